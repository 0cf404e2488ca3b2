"""``anthropic:<model>``: Anthropic's messages API through ``anthropic.AsyncAnthropic``.

Prompt caching: system messages become the request's ``system`` blocks and the first one carries
``cache_control: {"type": "ephemeral"}``, so everything up to and including it (the tool
definition, when there is one, and the first system block) is cached. Put the long, stable text
(the simulated user's persona and rubric) in the first system message and anything that changes
per turn after it: a scenario's eight simulator calls then pay for the persona once. Prompts
shorter than the model's minimum cacheable length are simply not cached.

Structured output: with ``json_schema`` the model is made to call one tool, ``respond``, whose
``input_schema`` is the schema (forced with ``tool_choice``); the tool input, serialised as JSON,
is the completion text. The API validates the call against the schema's shape, which a prose
instruction cannot do. A schema whose top level is not an object (tools need one) falls back to
a JSON instruction in the system prompt.

The messages API wants alternating turns starting with the user: consecutive messages of one
role are joined, and a conversation that opens with the assistant gets a short user line first.

Sampling: recent SDK releases dropped ``temperature``, ``top_p`` and ``top_k`` from
``messages.create`` (current models choose their own sampling). By default (``send_sampling=None``)
they are sent only when the installed SDK still takes them; ``send_sampling=True`` sends them
anyway (through ``extra_body``) for models that accept them, ``False`` never sends them.
``Sampling.seed`` has no counterpart and is ignored. The SDK's own retries are off; the managed
wrapper retries.
"""

from __future__ import annotations

import inspect
import json
import os
from typing import Any

from eibench.simulator.backends.base import (
    BackendError,
    ChatBackend,
    ChatMessage,
    Completion,
    Sampling,
    Usage,
)
from eibench.simulator.backends.managed import map_sdk_error
from eibench.simulator.backends.openai_backend import schema_instruction
from eibench.simulator.backends.registry import require

__all__ = ["TOOL_NAME", "AnthropicBackend", "to_anthropic"]

TOOL_NAME = "respond"
OPENING_USER_LINE = "(The conversation begins.)"
PLACEHOLDER_KEY = "EMPTY"
DEFAULT_TIMEOUT = 120.0
CACHE = {"type": "ephemeral"}


def to_anthropic(messages: list[ChatMessage],
                 extra_system: str | None = None) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Split chat messages into (system blocks, turns) for the messages API.

    The first system block is marked for prompt caching; ``extra_system`` becomes a last block.
    """
    system: list[dict[str, Any]] = [{"type": "text", "text": m["content"]}
                                    for m in messages if m["role"] == "system" and m["content"]]
    if extra_system:
        system.append({"type": "text", "text": extra_system})
    if system:
        system[0]["cache_control"] = dict(CACHE)
    turns: list[dict[str, Any]] = []
    for m in messages:
        if m["role"] == "system":
            continue
        if turns and turns[-1]["role"] == m["role"]:
            turns[-1]["content"] += "\n\n" + m["content"]
        else:
            turns.append({"role": m["role"], "content": m["content"]})
    if not turns or turns[0]["role"] != "user":
        turns.insert(0, {"role": "user", "content": OPENING_USER_LINE})
    return system, turns


class AnthropicBackend(ChatBackend):
    """Claude models through the messages API.

    Args:
        model: e.g. ``claude-sonnet-4-5``.
        base_url: the API address; else ``EIBENCH_ANTHROPIC_BASE_URL``, else the SDK default.
        api_key: else ``EIBENCH_ANTHROPIC_API_KEY``, else ``ANTHROPIC_API_KEY``; a placeholder
            when a custom ``base_url`` is named and no key is set.
        timeout: seconds per request (default 120).
        cache: mark the first system block for prompt caching.
        send_sampling: send temperature/top_p/top_k: ``None`` when the SDK takes them, ``True``
            always, ``False`` never (see the module docstring).
    """

    max_concurrency = 8

    def __init__(self, model: str, *, base_url: str | None = None, api_key: str | None = None,
                 timeout: float | None = None, cache: bool = True,
                 send_sampling: bool | None = None) -> None:
        anthropic = require("anthropic", provider="anthropic", hint="pip install anthropic")
        base_url = base_url or os.environ.get("EIBENCH_ANTHROPIC_BASE_URL") or None
        api_key = (api_key or os.environ.get("EIBENCH_ANTHROPIC_API_KEY")
                   or os.environ.get("ANTHROPIC_API_KEY"))
        if not api_key:
            if base_url is None:
                raise BackendError(
                    "anthropic: no API key; set ANTHROPIC_API_KEY (or EIBENCH_ANTHROPIC_API_KEY) "
                    "or pass api_key", retryable=False)
            api_key = PLACEHOLDER_KEY
        self._sdk = anthropic
        self.model = model
        self.name = f"anthropic:{model}"
        self.cache = cache
        self._client = anthropic.AsyncAnthropic(api_key=api_key, base_url=base_url,
                                                timeout=timeout or DEFAULT_TIMEOUT, max_retries=0)
        native = "temperature" in inspect.signature(self._client.messages.create).parameters
        self._sampling_native = native
        self.send_sampling = native if send_sampling is None else send_sampling

    def _request(self, messages: list[ChatMessage], json_schema: dict[str, Any] | None,
                 sampling: Sampling) -> dict[str, Any]:
        use_tool = json_schema is not None and json_schema.get("type") == "object"
        instruction = (schema_instruction(json_schema)
                       if json_schema is not None and not use_tool else None)
        system, turns = to_anthropic(messages, instruction)
        if not self.cache:
            for block in system:
                block.pop("cache_control", None)
        kwargs: dict[str, Any] = {"model": self.model, "max_tokens": sampling.max_tokens,
                                  "messages": turns}
        if system:
            kwargs["system"] = system
        if self.send_sampling:
            params = {k: getattr(sampling, k) for k in ("temperature", "top_p", "top_k")
                      if getattr(sampling, k) is not None}
            if self._sampling_native:
                kwargs.update(params)
            elif params:
                kwargs["extra_body"] = params
        if use_tool:
            kwargs["tools"] = [{"name": TOOL_NAME,
                                "description": "Give your whole answer as this tool's input.",
                                "input_schema": json_schema}]
            kwargs["tool_choice"] = {"type": "tool", "name": TOOL_NAME}
        return kwargs

    async def complete(self, messages: list[ChatMessage], *, json_schema: dict[str, Any] | None = None,
                       sampling: Sampling | None = None) -> Completion:
        """One messages call; see the module docstring for caching and structured output."""
        kwargs = self._request(messages, json_schema, sampling or Sampling())
        try:
            response = await self._client.messages.create(**kwargs)
        except Exception as exc:
            raise self._map_error(exc) from exc
        return self._parse(response)

    def _map_error(self, exc: Exception) -> BackendError:
        # 529 is Anthropic's "overloaded"; it falls under the 5xx rule.
        return map_sdk_error(self._sdk, exc, f"anthropic:{self.model}")

    def _parse(self, response: Any) -> Completion:
        where = f"anthropic:{self.model}"
        blocks = getattr(response, "content", None)
        if not isinstance(blocks, list):
            raise BackendError(f"{where}: malformed response: no content", retryable=True)
        texts: list[str] = []
        thinking: list[str] = []
        tool_input: Any = None
        for block in blocks:
            kind = getattr(block, "type", None)
            if kind == "text":
                texts.append(block.text)
            elif kind == "thinking":
                thinking.append(getattr(block, "thinking", ""))
            elif kind == "tool_use" and getattr(block, "name", None) == TOOL_NAME:
                tool_input = block.input
        text = (json.dumps(tool_input, ensure_ascii=False) if tool_input is not None
                else "".join(texts))
        return Completion(text=text, reasoning="\n".join(thinking),
                          usage=self._usage(getattr(response, "usage", None)),
                          model=getattr(response, "model", None) or self.model)

    @staticmethod
    def _usage(usage: Any) -> Usage:
        if usage is None:
            return Usage(calls=1)

        def count(name: str) -> int:
            return int(getattr(usage, name, 0) or 0)

        return Usage(input_tokens=count("input_tokens"), output_tokens=count("output_tokens"),
                     cache_read_tokens=count("cache_read_input_tokens"),
                     cache_write_tokens=count("cache_creation_input_tokens"), calls=1)

    async def aclose(self) -> None:
        """Close the HTTP client."""
        await self._client.close()
