"""The one wrapper every provider runs inside: retries, concurrency limit, usage, cost, latency.

Providers implement only ``complete`` and map their SDK errors onto ``BackendError``. Everything
else that should behave the same for every provider lives here, once:

- retries of ``BackendError(retryable=True)`` with exponential backoff and full jitter, honouring
  the provider's Retry-After (capped), up to ``RetryPolicy.max_attempts`` attempts;
- an optional per-attempt timeout (a stalled call becomes a retryable error);
- a per-backend ``asyncio.Semaphore`` limiting calls in flight (held only while a call runs, not
  while it backs off);
- token and cost accounting: each ``Completion.usage`` gets its cost from a small price table and
  the wrapper keeps running totals in ``usage``;
- latency of the successful attempt in ``Completion.latency_s``.

Token counts follow one convention across providers so one cost formula fits all:
``input_tokens`` are prompt tokens billed at the normal rate (uncached), ``cache_read_tokens`` and
``cache_write_tokens`` the prompt tokens read from or written to a prompt cache. The whole prompt
is the sum of the three.
"""

from __future__ import annotations

import asyncio
import dataclasses
import email.utils
import json
import logging
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from eibench.simulator.backends.base import (
    BackendError,
    ChatBackend,
    ChatMessage,
    Completion,
    Sampling,
    Usage,
)

__all__ = [
    "PRICES",
    "ManagedBackend",
    "Price",
    "RetriesExhausted",
    "RetryPolicy",
    "cost_of",
    "price_for",
    "retry_after_from_headers",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Price:
    """US dollars per million tokens."""

    input: float
    output: float
    cache_read: float
    cache_write: float


def _anthropic(inp: float, out: float) -> Price:
    # Anthropic bills 5-minute cache writes at 1.25x and cache reads at 0.1x the input rate.
    return Price(inp, out, round(inp * 0.1, 6), round(inp * 1.25, 6))


def _openai(inp: float, out: float, cached: float) -> Price:
    # OpenAI caches automatically: no write surcharge, reads at the cached-input rate.
    return Price(inp, out, cached, inp)


#: List prices at the time of writing, by provider and model-name prefix (the longest matching
#: prefix wins, so dated snapshots such as ``claude-sonnet-4-20250514`` find their family).
#: Unknown models, local engines and the scripted backend cost 0. Pass ``prices=`` to
#: ``ManagedBackend`` to use your own.
PRICES: dict[str, dict[str, Price]] = {
    "anthropic": {
        "claude-opus-4-5": _anthropic(5.0, 25.0),
        "claude-opus-4-1": _anthropic(15.0, 75.0),
        "claude-opus-4": _anthropic(15.0, 75.0),
        "claude-sonnet-4": _anthropic(3.0, 15.0),
        "claude-3-7-sonnet": _anthropic(3.0, 15.0),
        "claude-3-5-sonnet": _anthropic(3.0, 15.0),
        "claude-haiku-4-5": _anthropic(1.0, 5.0),
        "claude-3-5-haiku": _anthropic(0.8, 4.0),
        "claude-3-haiku": _anthropic(0.25, 1.25),
    },
    "openai": {
        "gpt-4o": _openai(2.5, 10.0, 1.25),
        "gpt-4o-mini": _openai(0.15, 0.6, 0.075),
        "gpt-4.1": _openai(2.0, 8.0, 0.5),
        "gpt-4.1-mini": _openai(0.4, 1.6, 0.1),
        "gpt-4.1-nano": _openai(0.1, 0.4, 0.025),
        "gpt-5": _openai(1.25, 10.0, 0.125),
        "gpt-5-mini": _openai(0.25, 2.0, 0.025),
        "gpt-5-nano": _openai(0.05, 0.4, 0.005),
        "o3": _openai(2.0, 8.0, 0.5),
        "o4-mini": _openai(1.1, 4.4, 0.275),
    },
}


def price_for(provider: str, model: str,
              prices: Mapping[str, Mapping[str, Price]] | None = None) -> Price | None:
    """The price of ``provider:model`` by longest model-name prefix, or ``None`` if unknown."""
    table = (PRICES if prices is None else prices).get(provider, {})
    name = model.lower()
    best = max((p for p in table if name.startswith(p)), key=len, default=None)
    return None if best is None else table[best]


def cost_of(usage: Usage, price: Price | None) -> float:
    """Dollar cost of ``usage`` at ``price`` (0 when the price is unknown)."""
    if price is None:
        return 0.0
    return (usage.input_tokens * price.input + usage.output_tokens * price.output
            + usage.cache_read_tokens * price.cache_read
            + usage.cache_write_tokens * price.cache_write) / 1_000_000


def retry_after_from_headers(headers: Mapping[str, str] | Any) -> float | None:
    """Seconds to wait from ``retry-after-ms`` or ``retry-after`` (seconds or an HTTP date)."""
    if headers is None:
        return None
    millis = headers.get("retry-after-ms")
    if millis:
        try:
            return max(0.0, float(millis) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How the wrapper retries retryable failures.

    Attributes:
        max_attempts: attempts in all, the first included (1 means no retry).
        base_delay: backoff scale in seconds; attempt n waits up to ``base_delay * 2**(n-1)``.
        max_delay: cap on one backoff wait.
        max_retry_after: cap on a provider's Retry-After, so a bad header cannot stall a run.
    """

    max_attempts: int = 6
    base_delay: float = 1.0
    max_delay: float = 30.0
    max_retry_after: float = 60.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError(f"RetryPolicy.max_attempts must be at least 1, got {self.max_attempts}")
        for name in ("base_delay", "max_delay", "max_retry_after"):
            if getattr(self, name) < 0:
                raise ValueError(f"RetryPolicy.{name} must not be negative, got {getattr(self, name)}")

    def delay(self, failures: int, error: BackendError, rng: random.Random) -> float:
        """Seconds to wait after the ``failures``-th failed attempt.

        Full jitter: uniform in [0, min(max_delay, base_delay * 2**(failures-1))]. When the
        provider sent Retry-After, wait at least that long (capped at ``max_retry_after``).
        """
        ceiling = min(self.max_delay, self.base_delay * 2 ** max(0, failures - 1))
        wait = rng.uniform(0.0, ceiling)
        if error.retry_after is not None:
            wait = max(wait, min(error.retry_after, self.max_retry_after))
        return wait


def map_sdk_error(sdk: Any, exc: Exception, where: str, *,
                  permanent: Callable[[Any], bool] | None = None) -> BackendError:
    """Map an exception of the openai or anthropic SDK (they share one error family) onto
    :class:`BackendError`: timeouts, dropped connections, 408/409/429/5xx and malformed bodies are
    retryable; ``permanent(status_error)`` can veto a retry (e.g. an exhausted quota's 429).
    """
    if isinstance(exc, sdk.APITimeoutError):
        return BackendError(f"{where}: request timed out", retryable=True)
    if isinstance(exc, sdk.APIConnectionError):
        return BackendError(f"{where}: connection failed: {exc}", retryable=True)
    if isinstance(exc, sdk.APIStatusError):
        status = exc.status_code
        retryable = (status in (408, 409, 429) or status >= 500) and not (
            permanent is not None and permanent(exc))
        return BackendError(f"{where}: HTTP {status}: {exc.message}", retryable=retryable,
                            retry_after=retry_after_from_headers(exc.response.headers),
                            status=status)
    if isinstance(exc, sdk.APIResponseValidationError | json.JSONDecodeError):
        return BackendError(f"{where}: malformed response: {exc}", retryable=True)
    return BackendError(f"{where}: {type(exc).__name__}: {exc}", retryable=False)


class RetriesExhausted(BackendError):
    """Every attempt failed with a retryable error; ``__cause__`` is the last one.

    Attributes:
        attempts: how many attempts were made.
    """

    def __init__(self, message: str, *, attempts: int, last: BackendError) -> None:
        super().__init__(message, retryable=last.retryable, retry_after=last.retry_after,
                         status=last.status)
        self.attempts = attempts


class ManagedBackend(ChatBackend):
    """Wraps one provider with the shared policy (see the module docstring).

    Args:
        inner: the provider.
        provider: the provider's registry name, used to look up prices (``anthropic``, ...).
        model: the model name, used to look up prices.
        concurrency: calls in flight at most; defaults to ``inner.max_concurrency``.
        timeout: seconds one attempt may take before it counts as a retryable timeout;
            ``None`` leaves timeouts to the provider.
        policy: the retry policy.
        prices: a price table in the shape of ``PRICES``; defaults to ``PRICES``.
        rng: the random source for jitter (seed it for reproducible waits).
        sleep: the coroutine used to wait between attempts (tests may inject one).
    """

    def __init__(self, inner: ChatBackend, *, provider: str = "", model: str = "",
                 concurrency: int | None = None, timeout: float | None = None,
                 policy: RetryPolicy | None = None,
                 prices: Mapping[str, Mapping[str, Price]] | None = None,
                 rng: random.Random | None = None,
                 sleep: Callable[[float], Awaitable[Any]] | None = None) -> None:
        limit = inner.max_concurrency if concurrency is None else concurrency
        if limit < 1:
            raise ValueError(f"concurrency must be at least 1, got {limit}")
        if timeout is not None and timeout <= 0:
            raise ValueError(f"timeout must be positive, got {timeout}")
        self.inner = inner
        self.name = inner.name
        self.max_concurrency = limit
        self.provider = provider
        self.model = model
        self.timeout = timeout
        self.policy = policy or RetryPolicy()
        self.price = price_for(provider, model, prices)
        self._rng = rng or random.Random()
        self._sleep = sleep or asyncio.sleep
        self._usage = Usage()
        self._semaphore: asyncio.Semaphore | None = None
        self._semaphore_loop: asyncio.AbstractEventLoop | None = None
        #: failed attempts that were retried, over the wrapper's life
        self.retries = 0
        #: calls that raised in the end
        self.failures = 0

    @property
    def usage(self) -> Usage:
        """Running totals over every successful call (``calls`` counts them)."""
        return self._usage

    def _limit(self) -> asyncio.Semaphore:
        # A semaphore belongs to one event loop; a backend reused under a new loop gets a new one.
        loop = asyncio.get_running_loop()
        if self._semaphore is None or self._semaphore_loop is not loop:
            self._semaphore = asyncio.Semaphore(self.max_concurrency)
            self._semaphore_loop = loop
        return self._semaphore

    async def _attempt(self, messages: list[ChatMessage], json_schema: dict[str, Any] | None,
                       sampling: Sampling | None) -> Completion:
        call = self.inner.complete(messages, json_schema=json_schema, sampling=sampling)
        try:
            if self.timeout is None:
                return await call
            return await asyncio.wait_for(call, self.timeout)
        except BackendError:
            raise
        except TimeoutError as exc:
            raise BackendError(f"{self.name}: no answer within {self.timeout:g}s",
                               retryable=True) from exc
        except Exception as exc:
            raise BackendError(f"{self.name}: unexpected {type(exc).__name__}: {exc}",
                               retryable=False) from exc

    async def complete(self, messages: list[ChatMessage], *, json_schema: dict[str, Any] | None = None,
                       sampling: Sampling | None = None) -> Completion:
        """Call the provider under the shared policy.

        Raises:
            BackendError: a non-retryable failure, as the provider raised it.
            RetriesExhausted: every attempt failed with a retryable error.
        """
        attempt = 0
        while True:
            attempt += 1
            async with self._limit():
                started = time.perf_counter()
                try:
                    result = await self._attempt(messages, json_schema, sampling)
                except BackendError as exc:
                    error = exc
                else:
                    return self._account(result, time.perf_counter() - started)
            if not error.retryable:
                self.failures += 1
                raise error
            if attempt >= self.policy.max_attempts:
                self.failures += 1
                raise RetriesExhausted(
                    f"{self.name}: gave up after {attempt} attempts; last error: {error}",
                    attempts=attempt, last=error) from error
            wait = self.policy.delay(attempt, error, self._rng)
            self.retries += 1
            log.info("%s: attempt %d failed (%s); retrying in %.2fs", self.name, attempt, error, wait)
            await self._sleep(wait)

    def _account(self, result: Completion, latency: float) -> Completion:
        usage = result.usage
        if usage.calls == 0:
            usage = dataclasses.replace(usage, calls=1)
        if usage.cost_usd == 0.0:
            usage = dataclasses.replace(usage, cost_usd=cost_of(usage, self.price))
        self._usage = self._usage + usage
        return dataclasses.replace(result, usage=usage, latency_s=latency,
                                   model=result.model or self.model)

    async def aclose(self) -> None:
        """Close the provider."""
        await self.inner.aclose()
