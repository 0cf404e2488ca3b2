"""A fake server speaking the OpenAI chat-completions wire format (``POST /v1/chat/completions``)."""

from __future__ import annotations

import time
from typing import Any

from .server import Answer, FakeRequest, FakeServer, words

__all__ = ["FakeOpenAIServer"]


class FakeOpenAIServer(FakeServer):
    """OpenAI-compatible fake; ``url`` is the ``base_url`` to give the client (ends in ``/v1``).

    Args:
        reject_formats: ``response_format`` types answered with HTTP 400, to mimic servers that
            do not support structured output (e.g. ``{"json_schema"}``).
        **kwargs: see ``FakeServer``.
    """

    base_path = "/v1"

    def __init__(self, *args: Any, reject_formats: set[str] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.reject_formats = set(reject_formats or ())

    def route(self, method: str, path: str) -> bool:
        return (method, path) in {("POST", "/v1/chat/completions"), ("GET", "/v1/models")}

    def check(self, request: FakeRequest) -> tuple[int, dict[str, Any]] | None:
        if request.path == "/v1/models":
            return 200, {"object": "list", "data": [{"id": "fake", "object": "model"}]}
        body = request.body
        if not isinstance(body, dict) or not isinstance(body.get("messages"), list):
            return 400, {"error": {"message": "body must be a JSON object with 'messages'",
                                   "type": "invalid_request_error"}}
        fmt = (body.get("response_format") or {}).get("type")
        if fmt in self.reject_formats:
            return 400, {"error": {"message": f"response_format {fmt!r} is not supported",
                                   "type": "invalid_request_error", "param": "response_format"}}
        return None

    def render(self, request: FakeRequest, answer: Answer) -> dict[str, Any]:
        body = request.body
        prompt = sum(words(str(m.get("content", ""))) for m in body["messages"])
        message: dict[str, Any] = {"role": "assistant", "content": answer.text}
        if answer.reasoning is not None:
            message["reasoning_content"] = answer.reasoning
        choice: dict[str, Any] = {"index": 0, "message": message, "finish_reason": "stop",
                                  "logprobs": None}
        if body.get("logprobs"):
            tokens = answer.text.split()
            values = answer.logprobs or [-0.5] * len(tokens)
            choice["logprobs"] = {"content": [
                {"token": t, "logprob": lp, "bytes": None, "top_logprobs": []}
                for t, lp in zip(tokens, values, strict=False)]}
        return {
            "id": f"chatcmpl-fake-{request.index}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.get("model", "fake"),
            "choices": [choice],
            "usage": {"prompt_tokens": prompt, "completion_tokens": words(answer.text),
                      "total_tokens": prompt + words(answer.text),
                      "prompt_tokens_details": {"cached_tokens": 0}},
        }
