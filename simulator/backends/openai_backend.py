"""``openai:<model>``: the chat-completions API of OpenAI or any compatible server.

Compatible servers (vLLM's ``vllm serve``, llama.cpp's server, others) are reached with
``base_url`` (or ``EIBENCH_OPENAI_BASE_URL``). A local server needs no key; a placeholder is sent.

Structured output: with ``json_schema`` the request asks for ``response_format`` of type
``json_schema``. A server that rejects that (HTTP 400 or 422, or llama.cpp's HTTP 500 naming
``response_format``) is asked again with ``json_object`` carrying the schema (llama.cpp's
schema-constrained mode), then plain ``json_object``, then plain text, the last three with the schema
spelled out in the system prompt; the first format the server accepts is remembered for this
backend. Retries of transient failures belong to the managed wrapper, so the SDK's own retries are
off.

Requests go through the SDK's low-level ``post`` with a ready JSON body: the typed
``chat.completions.create`` path re-walks every parameter against its type hints, which cost about
2 ms of CPU per call and dominated the harness's own time at high concurrency (bench/harness.py).
"""

from __future__ import annotations

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
from eibench.simulator.backends.registry import require

__all__ = ["FORMATS", "OpenAIBackend", "schema_instruction"]

#: Structured-output request formats, best first.
FORMATS = ("json_schema", "json_object_schema", "json_object", "text")

#: Sent as the key to a server that needs none (vLLM's documented convention).
PLACEHOLDER_KEY = "EMPTY"

DEFAULT_TIMEOUT = 120.0


def schema_instruction(schema: dict[str, Any]) -> str:
    """The instruction that stands in for server-side schema enforcement."""
    return ("Answer with one JSON object only, no other text, that follows this JSON schema:\n"
            + json.dumps(schema, ensure_ascii=False))


def with_instruction(messages: list[ChatMessage], instruction: str) -> list[ChatMessage]:
    """Append ``instruction`` to the first system message (or add one in front).

    Some chat templates reject a system message anywhere but first, so none is appended at the end.
    """
    out = list(messages)
    for i, m in enumerate(out):
        if m["role"] == "system":
            out[i] = {"role": "system", "content": f"{m['content']}\n\n{instruction}"}
            return out
    return [{"role": "system", "content": instruction}, *out]


def _strict_ok(schema: dict[str, Any]) -> bool:
    # OpenAI's strict mode only takes closed objects whose every property is required.
    props = schema.get("properties")
    return (schema.get("type") == "object" and schema.get("additionalProperties") is False
            and isinstance(props, dict) and set(schema.get("required", [])) == set(props))


def _format_name(schema: dict[str, Any]) -> str:
    title = str(schema.get("title") or "response")
    name = "".join(c if c.isalnum() or c in "_-" else "_" for c in title)
    return name[:64] or "response"


def _fast_http_client(openai: Any) -> Any:
    """aiohttp under the SDK when ``openai[aiohttp]`` is installed, else the SDK's default.

    At high concurrency httpx's connection pool scans every pooled connection on each request;
    aiohttp's transport costs less CPU per call (measured in bench/harness.py).
    """
    factory = getattr(openai, "DefaultAioHttpClient", None)
    if factory is None:
        return None
    try:
        return factory()
    except RuntimeError:  # the SDK raises this when the aiohttp extra is missing
        return None


def _quota_exhausted(exc: Any) -> bool:
    """OpenAI's 429 for an exhausted quota: waiting does not help."""
    body = exc.body if isinstance(exc.body, dict) else {}
    error = body.get("error")
    codes = (body.get("code"), error.get("code") if isinstance(error, dict) else None)
    return "insufficient_quota" in codes


def _format_rejected(exc: BackendError) -> bool:
    """The server refused the structured-output format (not some other failure)."""
    if exc.status in (400, 422):
        return True
    return exc.status == 500 and "response_format" in str(exc)


def _is_official(base_url: str | None) -> bool:
    return base_url is None or "api.openai.com" in base_url


class OpenAIBackend(ChatBackend):
    """OpenAI chat completions through ``openai.AsyncOpenAI``.

    Args:
        model: the model name the server knows.
        base_url: the server; else ``EIBENCH_OPENAI_BASE_URL``, else the SDK's default
            (which honours ``OPENAI_BASE_URL``).
        api_key: else ``EIBENCH_OPENAI_API_KEY``, else ``OPENAI_API_KEY``; a placeholder when a
            custom server is named and no key is set.
        timeout: seconds per request (default 120).
        logprobs: ask for per-token log-probabilities of the answer.
        response_format: the structured-output format to start from (one of ``FORMATS``).
    """

    max_concurrency = 16

    def __init__(self, model: str, *, base_url: str | None = None, api_key: str | None = None,
                 timeout: float | None = None, logprobs: bool = False,
                 response_format: str = "json_schema") -> None:
        openai = require("openai", provider="openai", hint="pip install openai")
        if response_format not in FORMATS:
            raise ValueError(f"response_format must be one of {', '.join(FORMATS)}, "
                             f"got {response_format!r}")
        base_url = base_url or os.environ.get("EIBENCH_OPENAI_BASE_URL") or None
        api_key = (api_key or os.environ.get("EIBENCH_OPENAI_API_KEY")
                   or os.environ.get("OPENAI_API_KEY"))
        if not api_key:
            if base_url is None and not os.environ.get("OPENAI_BASE_URL"):
                raise BackendError(
                    "openai: no API key; set OPENAI_API_KEY (or EIBENCH_OPENAI_API_KEY) or pass "
                    "api_key; a local server named with base_url needs none", retryable=False)
            api_key = PLACEHOLDER_KEY
        self._sdk = openai
        self.model = model
        self.name = f"openai:{model}"
        self.base_url = base_url
        self.logprobs = logprobs
        self.response_format = response_format
        self._client = openai.AsyncOpenAI(api_key=api_key, base_url=base_url,
                                          timeout=timeout or DEFAULT_TIMEOUT, max_retries=0,
                                          http_client=_fast_http_client(openai))

    def _sampling_kwargs(self, sampling: Sampling) -> dict[str, Any]:
        # OpenAI's own API wants max_completion_tokens (reasoning models reject max_tokens);
        # compatible servers know max_tokens best.
        key = "max_completion_tokens" if _is_official(self.base_url) else "max_tokens"
        return {key: sampling.max_tokens, **sampling.given()}

    def _request(self, messages: list[ChatMessage], json_schema: dict[str, Any] | None,
                 fmt: str, sampling: Sampling) -> dict[str, Any]:
        kwargs: dict[str, Any] = {"model": self.model, **self._sampling_kwargs(sampling)}
        if self.logprobs:
            kwargs["logprobs"] = True
        if json_schema is None:
            kwargs["messages"] = messages
            return kwargs
        if fmt == "json_schema":
            kwargs["messages"] = messages
            spec: dict[str, Any] = {"name": _format_name(json_schema), "schema": json_schema}
            if _strict_ok(json_schema):
                spec["strict"] = True
            kwargs["response_format"] = {"type": "json_schema", "json_schema": spec}
            return kwargs
        kwargs["messages"] = with_instruction(messages, schema_instruction(json_schema))
        if fmt == "json_object_schema":
            kwargs["response_format"] = {"type": "json_object", "schema": json_schema}
        elif fmt == "json_object":
            kwargs["response_format"] = {"type": "json_object"}
        return kwargs

    async def complete(self, messages: list[ChatMessage], *, json_schema: dict[str, Any] | None = None,
                       sampling: Sampling | None = None) -> Completion:
        """One chat completion; see the module docstring for structured output."""
        sampling = sampling or Sampling()
        if json_schema is None:
            return await self._call(self._request(messages, None, "text", sampling))
        start = FORMATS.index(self.response_format)
        first_error: BackendError | None = None
        for fmt in FORMATS[start:]:
            try:
                result = await self._call(self._request(messages, json_schema, fmt, sampling))
            except BackendError as exc:
                if not _format_rejected(exc):
                    raise
                first_error = first_error or exc
                continue
            self.response_format = fmt
            return result
        assert first_error is not None
        raise first_error

    async def _call(self, body: dict[str, Any]) -> Completion:
        try:
            response = await self._client.post("/chat/completions", body=body,
                                               cast_to=self._sdk.types.chat.ChatCompletion)
        except Exception as exc:
            raise self._map_error(exc) from exc
        return self._parse(response)

    def _map_error(self, exc: Exception) -> BackendError:
        return map_sdk_error(self._sdk, exc, f"openai:{self.model}", permanent=_quota_exhausted)

    def _parse(self, response: Any) -> Completion:
        where = f"openai:{self.model}"
        choices = getattr(response, "choices", None)
        if not choices or getattr(choices[0], "message", None) is None:
            raise BackendError(f"{where}: malformed response: no choices", retryable=True)
        choice = choices[0]
        message = choice.message
        reasoning = (getattr(message, "reasoning_content", None)
                     or getattr(message, "reasoning", None) or "")
        logprobs = None
        content_logprobs = getattr(getattr(choice, "logprobs", None), "content", None)
        if content_logprobs:
            logprobs = [float(t.logprob) for t in content_logprobs]
        return Completion(text=message.content or "", reasoning=str(reasoning),
                          usage=self._usage(getattr(response, "usage", None)),
                          logprobs=logprobs, model=getattr(response, "model", None) or self.model)

    @staticmethod
    def _usage(usage: Any) -> Usage:
        if usage is None:
            return Usage(calls=1)
        prompt = int(getattr(usage, "prompt_tokens", 0) or 0)
        details = getattr(usage, "prompt_tokens_details", None)
        cached = int(getattr(details, "cached_tokens", 0) or 0)
        return Usage(input_tokens=prompt - cached, cache_read_tokens=cached,
                     output_tokens=int(getattr(usage, "completion_tokens", 0) or 0), calls=1)

    async def aclose(self) -> None:
        """Close the HTTP client."""
        await self._client.close()
