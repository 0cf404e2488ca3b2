"""The anthropic: provider against a local fake messages server."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest

from eibench.simulator.backends import BackendError, RetryPolicy, Sampling, get_backend
from eibench.simulator.backends.anthropic_backend import (
    OPENING_USER_LINE,
    TOOL_NAME,
    AnthropicBackend,
    to_anthropic,
)
from eibench.simulator.backends.managed import PRICES, cost_of

from fakes import Answer, FakeAnthropicServer, Fault

PERSONA = "You are Lin, a restaurant owner whose order was lost. " * 20
SCHEMA = {"type": "object", "properties": {"reply": {"type": "string"},
                                           "anger_delta": {"type": "integer"}},
          "required": ["reply", "anger_delta"]}
Make = Callable[..., AnthropicBackend]
FAST = RetryPolicy(max_attempts=3, base_delay=0.01, max_delay=0.02)


def turn(k: int) -> list[dict[str, str]]:
    return [{"role": "system", "content": PERSONA},
            {"role": "system", "content": f"Round {k}/8. Current anger 60."},
            {"role": "user", "content": f"Agent said something in round {k}"}]


@pytest.fixture
def server() -> Iterator[FakeAnthropicServer]:
    with FakeAnthropicServer(lambda r: json.dumps({"reply": "Go on.", "anger_delta": -2})) as s:
        yield s


@pytest.fixture
async def make(server: FakeAnthropicServer) -> AsyncIterator[Make]:
    """Builds backends on the fake server and closes them after the test."""
    made: list[AnthropicBackend] = []

    def build(model: str = "m", **options: Any) -> AnthropicBackend:
        made.append(AnthropicBackend(model, base_url=server.url, **options))
        return made[-1]

    yield build
    for backend in made:
        await backend.aclose()


async def test_system_block_carries_the_cache_marker(server: FakeAnthropicServer, make: Make) -> None:
    backend = make("claude-haiku-4-5")
    assert backend._client.max_retries == 0  # the managed wrapper owns retries
    await backend.complete(turn(1))
    system = server.requests[0].body["system"]
    assert system[0] == {"type": "text", "text": PERSONA, "cache_control": {"type": "ephemeral"}}
    assert "cache_control" not in system[1]
    assert system[1]["text"] == "Round 1/8. Current anger 60."


async def test_persona_is_paid_for_once(server: FakeAnthropicServer) -> None:
    backend = get_backend("anthropic:claude-haiku-4-5", base_url=server.url, api_key="k")
    first = await backend.complete(turn(1), json_schema=SCHEMA)
    later = [await backend.complete(turn(k), json_schema=SCHEMA) for k in range(2, 9)]
    persona_words = len(PERSONA.split())
    assert first.usage.cache_write_tokens == persona_words
    assert first.usage.cache_read_tokens == 0
    assert all(c.usage.cache_read_tokens == persona_words for c in later)
    assert all(c.usage.cache_write_tokens == 0 for c in later)
    total = backend.usage
    assert total.calls == 8
    assert total.cache_write_tokens == persona_words
    assert total.cache_read_tokens == 7 * persona_words
    price = PRICES["anthropic"]["claude-haiku-4-5"]
    assert total.cost_usd == pytest.approx(cost_of(total, price))
    assert first.usage.cost_usd > later[0].usage.cost_usd
    await backend.aclose()


async def test_cache_marker_can_be_turned_off(server: FakeAnthropicServer, make: Make) -> None:
    await make(cache=False).complete(turn(1))
    assert all("cache_control" not in b for b in server.requests[0].body["system"])


async def test_schema_goes_through_a_forced_tool(server: FakeAnthropicServer, make: Make) -> None:
    completion = await make().complete(turn(1), json_schema=SCHEMA)
    body = server.requests[0].body
    assert body["tools"] == [{"name": TOOL_NAME, "description": body["tools"][0]["description"],
                              "input_schema": SCHEMA}]
    assert body["tool_choice"] == {"type": "tool", "name": TOOL_NAME}
    assert json.loads(completion.text) == {"reply": "Go on.", "anger_delta": -2}


async def test_non_object_schema_becomes_an_instruction(server: FakeAnthropicServer, make: Make) -> None:
    server.script = lambda r: '["a", "b"]'
    schema = {"type": "array", "items": {"type": "string"}}
    completion = await make().complete(turn(1), json_schema=schema)
    body = server.requests[0].body
    assert "tools" not in body
    assert json.dumps(schema) in body["system"][-1]["text"]
    assert body["system"][0]["cache_control"] == {"type": "ephemeral"}
    assert completion.text == '["a", "b"]'


async def test_turns_are_made_valid(server: FakeAnthropicServer, make: Make) -> None:
    messages = [{"role": "system", "content": "S"},
                {"role": "assistant", "content": "Hello, nice to meet you."},
                {"role": "user", "content": "Hi."}, {"role": "user", "content": "Who are you?"}]
    await make().complete(messages)  # type: ignore[arg-type]
    assert server.requests[0].body["messages"] == [
        {"role": "user", "content": OPENING_USER_LINE},
        {"role": "assistant", "content": "Hello, nice to meet you."},
        {"role": "user", "content": "Hi.\n\nWho are you?"}]


def test_no_system_means_no_system_blocks() -> None:
    system, turns = to_anthropic([{"role": "user", "content": "x"}])
    assert system == [] and turns == [{"role": "user", "content": "x"}]


async def test_thinking_blocks_become_reasoning(server: FakeAnthropicServer, make: Make) -> None:
    server.script = lambda r: Answer(text="Fine.", reasoning="He is stalling.")
    completion = await make().complete(turn(1))
    assert (completion.text, completion.reasoning) == ("Fine.", "He is stalling.")


async def test_sampling_options(server: FakeAnthropicServer, make: Make) -> None:
    sampling = Sampling(temperature=0.7, top_p=None, top_k=20, max_tokens=300)
    await make(send_sampling=True).complete(turn(1), sampling=sampling)
    await make(send_sampling=False).complete(turn(1), sampling=sampling)
    sent, omitted = (r.body for r in server.requests)
    assert (sent["temperature"], sent["top_k"], sent["max_tokens"]) == (0.7, 20, 300)
    assert "top_p" not in sent
    assert "temperature" not in omitted and omitted["max_tokens"] == 300


async def test_overloaded_is_retried(server: FakeAnthropicServer) -> None:
    server.fail_next(Fault.server_error(529))
    backend = get_backend("anthropic:m", base_url=server.url, retry_policy=FAST)
    await backend.complete(turn(1))
    await backend.aclose()
    assert backend.retries == 1 and len(server.requests) == 2


def test_missing_key_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("ANTHROPIC_API_KEY", "EIBENCH_ANTHROPIC_API_KEY", "EIBENCH_ANTHROPIC_BASE_URL"):
        monkeypatch.delenv(var, raising=False)
    with pytest.raises(BackendError, match="ANTHROPIC_API_KEY"):
        AnthropicBackend("claude-sonnet-4-5")
