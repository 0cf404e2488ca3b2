"""The ChatBackend seam: one async ``complete`` per provider, plus the records it returns."""

from __future__ import annotations

import abc
from dataclasses import dataclass, field
from typing import Any, Literal, TypedDict


class ChatMessage(TypedDict):
    role: Literal["system", "user", "assistant"]
    content: str


@dataclass(frozen=True, slots=True)
class Sampling:
    """Sampling settings sent with a request. ``None`` leaves the provider's default."""

    temperature: float | None = 0.7
    top_p: float | None = None
    top_k: int | None = None
    max_tokens: int = 1024
    seed: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"temperature": self.temperature, "top_p": self.top_p, "top_k": self.top_k,
                "max_tokens": self.max_tokens, "seed": self.seed}

    def given(self) -> dict[str, Any]:
        """temperature, top_p, top_k and seed where set (None leaves the provider's default)."""
        values = {"temperature": self.temperature, "top_p": self.top_p, "top_k": self.top_k,
                  "seed": self.seed}
        return {k: v for k, v in values.items() if v is not None}


@dataclass(frozen=True, slots=True)
class Usage:
    """Token and cost accounting for one or more calls."""

    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    cost_usd: float = 0.0
    calls: int = 0

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            input_tokens=self.input_tokens + other.input_tokens,
            output_tokens=self.output_tokens + other.output_tokens,
            cache_read_tokens=self.cache_read_tokens + other.cache_read_tokens,
            cache_write_tokens=self.cache_write_tokens + other.cache_write_tokens,
            cost_usd=self.cost_usd + other.cost_usd,
            calls=self.calls + other.calls,
        )


@dataclass(frozen=True, slots=True)
class Completion:
    """One model answer.

    Attributes:
        text: the visible text.
        reasoning: a provider's separate reasoning field (reasoning models), if any.
        usage: tokens and cost of this call.
        logprobs: per-token log-probabilities of ``text`` when the provider returns them.
        model: the model name the provider reported.
        latency_s: wall time of the successful call.
    """

    text: str
    reasoning: str = ""
    usage: Usage = field(default_factory=Usage)
    logprobs: list[float] | None = None
    model: str = ""
    latency_s: float = 0.0


class BackendError(Exception):
    """A provider call failed.

    Attributes:
        retryable: rate limits, 5xx, timeouts and dropped connections are retryable.
        retry_after: seconds the provider asked us to wait (Retry-After), if it said.
        status: the HTTP status, when there was one.
    """

    def __init__(self, message: str, *, retryable: bool, retry_after: float | None = None,
                 status: int | None = None) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.retry_after = retry_after
        self.status = status


class MissingDependency(ImportError):
    """A provider's SDK is not installed; the message says what to install."""


class ChatBackend(abc.ABC):
    """A chat model provider. Subclasses implement one method; policy lives in the wrapper."""

    #: ``provider:model`` as the user wrote it.
    name: str = ""
    #: default concurrency limit for this provider (the wrapper enforces it)
    max_concurrency: int = 16

    @abc.abstractmethod
    async def complete(self, messages: list[ChatMessage], *, json_schema: dict[str, Any] | None = None,
                       sampling: Sampling | None = None) -> Completion:
        """Answer ``messages``; with ``json_schema``, constrain output to it where supported.

        Raises:
            BackendError: on any provider failure, with ``retryable`` set.
        """

    async def aclose(self) -> None:  # noqa: B027 - optional hook
        """Release connections; default does nothing."""
