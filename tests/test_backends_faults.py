"""Both HTTP providers under injected faults, against local fake servers (no network)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from eibench.simulator.backends import (
    BackendError,
    ManagedBackend,
    RetriesExhausted,
    RetryPolicy,
    get_backend,
)
from eibench.simulator.backends.managed import cost_of, price_for

from fakes import FakeAnthropicServer, FakeOpenAIServer, FakeServer, Fault

FAST = RetryPolicy(max_attempts=4, base_delay=0.01, max_delay=0.05, max_retry_after=5.0)
MESSAGES = [{"role": "system", "content": "You are a tired shop owner."},
            {"role": "user", "content": "Where is my parcel"}]


@dataclass
class Setup:
    server: FakeServer
    provider: str
    model: str
    made: list[ManagedBackend] = field(default_factory=list)

    def backend(self, **options: Any) -> ManagedBackend:
        options.setdefault("retry_policy", FAST)
        options.setdefault("timeout", 5.0)
        self.made.append(get_backend(f"{self.provider}:{self.model}", base_url=self.server.url,
                                     api_key="test-key", **options))
        return self.made[-1]


@pytest.fixture(params=["openai", "anthropic"])
async def setup(request: pytest.FixtureRequest) -> AsyncIterator[Setup]:
    if request.param == "openai":
        server: FakeServer = FakeOpenAIServer(lambda r: f"answer {r.index}")
        model = "gpt-4o-mini"
    else:
        server = FakeAnthropicServer(lambda r: f"answer {r.index}")
        model = "claude-haiku-4-5"
    with server:
        made = Setup(server, request.param, model)
        yield made
        for backend in made.made:
            await backend.aclose()


async def test_rate_limit_waits_for_retry_after_then_succeeds(setup: Setup) -> None:
    setup.server.fail_next(Fault.rate_limit(retry_after=0.3))
    backend = setup.backend()
    completion = await backend.complete(MESSAGES)
    first, second = setup.server.requests
    assert completion.text == "answer 1"
    assert second.received_at - first.received_at >= 0.3
    assert backend.retries == 1


async def test_server_error_then_success(setup: Setup) -> None:
    setup.server.fail_next(Fault.server_error(500))
    backend = setup.backend()
    assert (await backend.complete(MESSAGES)).text == "answer 1"
    assert len(setup.server.requests) == 2


async def test_timeout_then_success(setup: Setup) -> None:
    setup.server.fail_next(Fault.timeout(delay=10.0))
    backend = setup.backend(timeout=0.3)
    completion = await backend.complete(MESSAGES)
    assert completion.text == "answer 1"
    assert len(setup.server.requests) == 2
    assert completion.latency_s < 0.3


async def test_malformed_body_then_success(setup: Setup) -> None:
    setup.server.fail_next(Fault.malformed())
    backend = setup.backend()
    assert (await backend.complete(MESSAGES)).text == "answer 1"
    assert len(setup.server.requests) == 2


async def test_gives_up_after_max_attempts(setup: Setup) -> None:
    setup.server.fail_next(*[Fault.server_error(503)] * 10)
    backend = setup.backend(max_retries=2)
    with pytest.raises(RetriesExhausted) as info:
        await backend.complete(MESSAGES)
    assert isinstance(info.value, BackendError)
    assert info.value.attempts == 3
    assert info.value.status == 503
    assert len(setup.server.requests) == 3
    assert backend.failures == 1


async def test_client_error_is_not_retried(setup: Setup) -> None:
    setup.server.fail_next(Fault.server_error(401))
    backend = setup.backend()
    with pytest.raises(BackendError) as info:
        await backend.complete(MESSAGES)
    assert not isinstance(info.value, RetriesExhausted)
    assert info.value.status == 401 and not info.value.retryable
    assert len(setup.server.requests) == 1


async def test_concurrency_limit_holds_at_the_server(setup: Setup) -> None:
    setup.server.latency = 0.1
    backend = setup.backend(concurrency=3)
    results = await asyncio.gather(*(backend.complete(MESSAGES) for _ in range(10)))
    assert len({r.text for r in results}) == 10
    assert setup.server.max_in_flight == 3


async def test_usage_and_cost_accumulate(setup: Setup) -> None:
    backend = setup.backend()
    one = await backend.complete(MESSAGES)
    two = await backend.complete(MESSAGES)
    price = price_for(setup.provider, setup.model)
    assert price is not None
    assert one.usage.calls == 1 and one.usage.output_tokens == 2
    assert one.usage.cost_usd == pytest.approx(cost_of(one.usage, price))
    assert one.usage.cost_usd > 0
    total = backend.usage
    assert total.calls == 2
    assert total.input_tokens == one.usage.input_tokens + two.usage.input_tokens
    assert total.output_tokens == 4
    assert total.cost_usd == pytest.approx(one.usage.cost_usd + two.usage.cost_usd)


async def test_random_fault_rate_is_survived(setup: Setup) -> None:
    setup.server.fault_rate = 0.3
    backend = setup.backend(retry_policy=RetryPolicy(max_attempts=10, base_delay=0.001,
                                                     max_delay=0.01))
    results = await asyncio.gather(*(backend.complete(MESSAGES) for _ in range(20)))
    assert len(results) == 20
    assert setup.server.faults_injected > 0
    assert backend.retries == setup.server.faults_injected
    assert len(setup.server.requests) == 20 + setup.server.faults_injected
