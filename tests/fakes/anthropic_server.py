"""A fake server speaking Anthropic's messages wire format (``POST /v1/messages``).

It imitates prompt caching well enough to test accounting: the system blocks up to the last one
marked with ``cache_control`` form the cached prefix; the first request with a given prefix
reports it as ``cache_creation_input_tokens``, later ones as ``cache_read_input_tokens``.
When the request forces a tool (``tool_choice`` of type ``tool``), the answer text is parsed as
JSON and sent as that tool's input.
"""

from __future__ import annotations

import json
from typing import Any

from .server import Answer, FakeRequest, FakeServer, words

__all__ = ["FakeAnthropicServer"]


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(str(b.get("text", "")) for b in content if isinstance(b, dict))
    return ""


class FakeAnthropicServer(FakeServer):
    """Anthropic-compatible fake; ``url`` is the ``base_url`` to give the client."""

    base_path = ""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._cached: set[str] = set()

    def route(self, method: str, path: str) -> bool:
        return method == "POST" and path == "/v1/messages"

    def error_body(self, status: int) -> dict[str, Any]:
        kind = {429: "rate_limit_error", 529: "overloaded_error"}.get(status, "api_error")
        return {"type": "error", "error": {"type": kind, "message": f"injected HTTP {status}"}}

    def check(self, request: FakeRequest) -> tuple[int, dict[str, Any]] | None:
        body = request.body
        problem = None
        if not isinstance(body, dict):
            problem = "body must be a JSON object"
        elif not isinstance(body.get("max_tokens"), int):
            problem = "max_tokens: field required"
        elif not body.get("messages") or body["messages"][0].get("role") != "user":
            problem = "messages: first message must use the 'user' role"
        if problem:
            return 400, {"type": "error",
                         "error": {"type": "invalid_request_error", "message": problem}}
        return None

    def _cache_split(self, system: Any) -> tuple[int, int, int]:
        """(uncached, cache write, cache read) token counts of the system prompt."""
        if not isinstance(system, list):
            return words(_text(system)), 0, 0
        marked = [i for i, b in enumerate(system) if isinstance(b, dict) and b.get("cache_control")]
        if not marked:
            return words(_text(system)), 0, 0
        prefix, rest = system[:marked[-1] + 1], system[marked[-1] + 1:]
        key = json.dumps(prefix, sort_keys=True)
        size = words(_text(prefix))
        with self._lock:
            hit = key in self._cached
            self._cached.add(key)
        return words(_text(rest)), (0 if hit else size), (size if hit else 0)

    def render(self, request: FakeRequest, answer: Answer) -> dict[str, Any]:
        body = request.body
        uncached, written, read = self._cache_split(body.get("system"))
        prompt = uncached + sum(words(_text(m.get("content"))) for m in body["messages"])
        choice = body.get("tool_choice") or {}
        content: list[dict[str, Any]] = []
        if answer.reasoning is not None:
            content.append({"type": "thinking", "thinking": answer.reasoning, "signature": "x"})
        if choice.get("type") == "tool":
            content.append({"type": "tool_use", "id": f"toolu_fake_{request.index}",
                            "name": choice["name"], "input": json.loads(answer.text)})
            stop = "tool_use"
        else:
            content.append({"type": "text", "text": answer.text})
            stop = "end_turn"
        return {
            "id": f"msg_fake_{request.index}",
            "type": "message",
            "role": "assistant",
            "model": body.get("model", "fake"),
            "content": content,
            "stop_reason": stop,
            "stop_sequence": None,
            "usage": {"input_tokens": prompt, "output_tokens": words(answer.text),
                      "cache_creation_input_tokens": written, "cache_read_input_tokens": read},
        }
