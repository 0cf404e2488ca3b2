"""The managed wrapper: retry policy, timeouts, concurrency limit, usage and cost."""

from __future__ import annotations

import asyncio
import random
import time
from email.utils import formatdate

import pytest

from eibench.simulator.backends import (
    BackendError,
    Completion,
    ManagedBackend,
    Price,
    RetriesExhausted,
    RetryPolicy,
    ScriptedBackend,
    Usage,
    price_for,
)
from eibench.simulator.backends.managed import cost_of, retry_after_from_headers

HI = [{"role": "user", "content": "hi"}]


def retryable(retry_after: float | None = None) -> BackendError:
    return BackendError("flaky", retryable=True, retry_after=retry_after, status=503)


class Waits:
    """An injected sleep that records the waits instead of waiting."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


def test_full_jitter_stays_under_the_exponential_ceiling() -> None:
    policy = RetryPolicy(base_delay=0.5, max_delay=3.0)
    rng = random.Random(1)
    error = retryable()
    for failures, ceiling in [(1, 0.5), (2, 1.0), (3, 2.0), (4, 3.0), (9, 3.0)]:
        draws = [policy.delay(failures, error, rng) for _ in range(200)]
        assert all(0.0 <= d <= ceiling for d in draws)
        assert max(draws) > 0.8 * ceiling  # jitter spreads over the whole range


def test_retry_after_is_a_capped_floor() -> None:
    policy = RetryPolicy(base_delay=0.1, max_delay=0.2, max_retry_after=10.0)
    rng = random.Random(0)
    assert all(policy.delay(1, retryable(4.0), rng) == 4.0 for _ in range(20))
    assert policy.delay(1, retryable(3600.0), rng) == 10.0


def test_policy_rejects_nonsense() -> None:
    with pytest.raises(ValueError, match="max_attempts"):
        RetryPolicy(max_attempts=0)
    with pytest.raises(ValueError, match="base_delay"):
        RetryPolicy(base_delay=-1)


def test_retry_after_headers() -> None:
    assert retry_after_from_headers({"retry-after": "2"}) == 2.0
    assert retry_after_from_headers({"retry-after": "0.25"}) == 0.25
    assert retry_after_from_headers({"retry-after-ms": "150", "retry-after": "9"}) == 0.15
    later = formatdate(time.time() + 30, usegmt=True)
    assert 25 < (retry_after_from_headers({"retry-after": later}) or 0) <= 30
    assert retry_after_from_headers({"retry-after": "soon"}) is None
    assert retry_after_from_headers({}) is None


def test_prices_by_longest_prefix() -> None:
    assert price_for("openai", "gpt-4o-mini-2024-07-18") == price_for("openai", "gpt-4o-mini")
    assert price_for("openai", "gpt-4o-mini") != price_for("openai", "gpt-4o")
    assert price_for("anthropic", "claude-opus-4-5-20251101") != price_for("anthropic",
                                                                           "claude-opus-4")
    assert price_for("openai", "Qwen/Qwen3-8B") is None
    assert price_for("local", "smollm2") is None
    usage = Usage(input_tokens=1_000_000, output_tokens=2_000_000, cache_read_tokens=1_000_000,
                  cache_write_tokens=1_000_000)
    assert cost_of(usage, Price(1.0, 2.0, 0.5, 3.0)) == pytest.approx(1 + 4 + 0.5 + 3)
    assert cost_of(usage, None) == 0.0


async def test_retries_with_backoff_then_succeeds() -> None:
    waits = Waits()
    inner = ScriptedBackend([retryable(), retryable(2.5), "done"])
    backend = ManagedBackend(inner, policy=RetryPolicy(base_delay=0.1, max_delay=1.0),
                             sleep=waits, rng=random.Random(3))
    completion = await backend.complete(HI)
    assert completion.text == "done"
    assert len(waits.waits) == 2 and 0 <= waits.waits[0] <= 0.1 and waits.waits[1] == 2.5
    assert backend.retries == 2 and backend.failures == 0


async def test_gives_up_after_max_attempts() -> None:
    waits = Waits()
    inner = ScriptedBackend([retryable()], cycle=True)
    backend = ManagedBackend(inner, policy=RetryPolicy(max_attempts=4), sleep=waits)
    with pytest.raises(RetriesExhausted, match="gave up after 4 attempts") as info:
        await backend.complete(HI)
    assert info.value.attempts == 4 and info.value.retryable and info.value.status == 503
    assert isinstance(info.value.__cause__, BackendError)
    assert len(inner.calls) == 4 and len(waits.waits) == 3


async def test_non_retryable_is_raised_at_once() -> None:
    fatal = BackendError("no", retryable=False, status=400)
    inner = ScriptedBackend([fatal, "never"])
    backend = ManagedBackend(inner, sleep=Waits())
    with pytest.raises(BackendError) as info:
        await backend.complete(HI)
    assert info.value is fatal and len(inner.calls) == 1 and backend.failures == 1


async def test_unexpected_exceptions_become_backend_errors() -> None:
    backend = ManagedBackend(ScriptedBackend([KeyError("choices")]), sleep=Waits())
    with pytest.raises(BackendError, match="unexpected KeyError") as info:
        await backend.complete(HI)
    assert not info.value.retryable and isinstance(info.value.__cause__, KeyError)


async def test_a_stalled_call_times_out_and_is_retried() -> None:
    never = asyncio.Event()
    calls = 0

    async def stall_once(messages: list[dict[str, str]]) -> str:
        nonlocal calls
        calls += 1
        if calls == 1:
            await never.wait()
        return "second try"

    backend = ManagedBackend(ScriptedBackend(stall_once), timeout=0.05, sleep=Waits())
    completion = await asyncio.wait_for(backend.complete(HI), 5)
    assert completion.text == "second try" and backend.retries == 1


async def test_concurrency_limit() -> None:
    gate, reached = asyncio.Event(), asyncio.Event()
    in_flight = peak = 0

    async def held(messages: list[dict[str, str]]) -> str:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        if in_flight == 2:
            reached.set()
        await gate.wait()
        in_flight -= 1
        return "ok"

    backend = ManagedBackend(ScriptedBackend(held), concurrency=2)
    tasks = [asyncio.create_task(backend.complete(HI)) for _ in range(6)]
    await asyncio.wait_for(reached.wait(), 5)
    for _ in range(20):  # give any call that could slip past the limit a chance to start
        await asyncio.sleep(0)
    assert in_flight == 2
    gate.set()
    results = await asyncio.wait_for(asyncio.gather(*tasks), 5)
    assert [r.text for r in results] == ["ok"] * 6 and peak == 2


def test_concurrency_must_be_positive() -> None:
    with pytest.raises(ValueError, match="concurrency"):
        ManagedBackend(ScriptedBackend(["x"]), concurrency=0)


async def test_usage_cost_and_latency() -> None:
    prices = {"fake": {"model": Price(input=1.0, output=10.0, cache_read=0.1, cache_write=1.25)}}
    inner = ScriptedBackend([
        Completion(text="a", usage=Usage(input_tokens=100, output_tokens=10, cache_read_tokens=50)),
        "b c",
    ])
    backend = ManagedBackend(inner, provider="fake", model="model-v2", prices=prices)
    one = await backend.complete(HI)
    two = await backend.complete(HI)
    assert one.usage.calls == 1  # filled in when the provider left it at 0
    assert one.usage.cost_usd == pytest.approx((100 * 1.0 + 10 * 10.0 + 50 * 0.1) / 1e6)
    assert two.usage == Usage(input_tokens=1, output_tokens=2, calls=1,
                              cost_usd=pytest.approx((1 + 20) / 1e6))
    assert backend.usage.calls == 2
    assert backend.usage.input_tokens == 101 and backend.usage.output_tokens == 12
    assert backend.usage.cost_usd == pytest.approx(one.usage.cost_usd + two.usage.cost_usd)
    assert one.latency_s >= 0 and one.model == "scripted"


async def test_unknown_model_costs_nothing() -> None:
    backend = ManagedBackend(ScriptedBackend(["x y"]), provider="openai", model="my-local-model")
    assert (await backend.complete(HI)).usage.cost_usd == 0.0


def test_backend_works_across_event_loops() -> None:
    backend = ManagedBackend(ScriptedBackend(["a", "b", "c", "d"]), concurrency=1)

    async def two_at_once() -> list[str]:
        results = await asyncio.gather(backend.complete(HI), backend.complete(HI))
        return [r.text for r in results]

    # the second loop contends for the limit too, so a semaphore bound to the first would fail
    assert asyncio.run(two_at_once()) == ["a", "b"]
    assert asyncio.run(two_at_once()) == ["c", "d"]
