"""Survival of the LLM simulator inside the dialogue loop, against local fake HTTP servers.

Each test plays a three-round dialogue through the real OpenAI or Anthropic backend, the shared
retry wrapper and the real loop, with faults injected by the server, and checks how the dialogue
ends and in which state.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

import pytest

from eibench.harness.agents import FunctionAgent
from eibench.harness.loop import DialogueResult, ListRecorder, run_dialogue
from eibench.scenarios.model import Anchor, Scenario, Scene
from eibench.simulator.backends import RetryPolicy, get_backend
from eibench.simulator.llm import LLMSimulator
from eibench.simulator.state import State
from eibench.simulator.types import TerminationReason

from fakes import Answer, FakeAnthropicServer, FakeOpenAIServer, FakeRequest, Fault

SCENARIO = Scenario(
    id="http_repair", scene=Scene.REPAIR, language="en",
    user_persona="### Background\nYou are Nadia, a painter.", opening_line="You never came.",
    agent_persona="You are Theo.", start=Anchor(anger=70, trust=30),
    success=Anchor(anger=25, trust=70), failure=Anchor(anger=95, trust=5), max_rounds=3)
START = State(70, 30)
FAST = RetryPolicy(max_attempts=3, base_delay=0.0, max_delay=0.0, max_retry_after=0.0)


def round_of(request: FakeRequest) -> int:
    """The round a request is for, read from the turn message (retries carry it too)."""
    body = request.body or {}
    for message in body.get("messages", []):
        content = message.get("content")
        text = content if isinstance(content, str) else json.dumps(content)
        m = re.search(r"Round (\d+)/", text)
        if m:
            return int(m.group(1))
    raise AssertionError("no round counter in the request")


def good(request: FakeRequest) -> str:
    k = round_of(request)
    return json.dumps({"reflection": f"round {k}", "anger_delta": -3, "trust_delta": 4,
                       "reply": f"reply {k}", "continue": "yes", "stop_reason": ""})


def state_after(rounds: int) -> State:
    return State(START.anger - 3 * rounds, START.trust + 4 * rounds)


@pytest.fixture
def openai_server() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer(good) as server:
        yield server  # type: ignore[misc]


async def play(server: FakeOpenAIServer | FakeAnthropicServer, *, provider: str = "openai",
               timeout: float | None = None) -> tuple[DialogueResult, ListRecorder, LLMSimulator]:
    backend = get_backend(f"{provider}:fake-model", base_url=server.url, api_key="test-key",
                          retry_policy=FAST, timeout=timeout)
    sim = LLMSimulator(backend)
    agent = FunctionAgent(lambda scenario, history: "<think>plan</think>I was wrong. Here's why.")
    recorder = ListRecorder()
    try:
        result = await run_dialogue(SCENARIO, agent, sim, recorder, seed=1)
    finally:
        await sim.aclose()
    return result, recorder, sim


async def test_clean_run_reaches_max_rounds(openai_server: FakeOpenAIServer) -> None:
    result, _, _ = await play(openai_server)
    assert result.reason is TerminationReason.MAX_ROUNDS
    assert result.state == state_after(3)
    assert len(openai_server.requests) == 3
    body = openai_server.requests[0].body
    assert body["response_format"]["type"] == "json_schema"
    assert body["temperature"] == 0.7
    assert "<think>" not in json.dumps(body) and "plan" not in body["messages"][1]["content"]


async def test_rate_limits_and_server_errors_are_survived(openai_server: FakeOpenAIServer) -> None:
    openai_server.fail_next(Fault.rate_limit(0.0), Fault.server_error(503))
    result, _, sim = await play(openai_server)
    assert result.reason is TerminationReason.MAX_ROUNDS
    assert result.state == state_after(3)
    assert len(openai_server.requests) == 5
    assert sim.backend.retries == 2  # type: ignore[attr-defined]


async def test_persistent_server_errors_end_with_the_last_good_state() -> None:
    def script(request: FakeRequest) -> str | Fault:
        return Fault.server_error(500) if round_of(request) >= 2 else good(request)

    with FakeOpenAIServer(script) as server:
        result, recorder, _ = await play(server)
    assert result.reason is TerminationReason.SIMULATOR_ERROR
    assert result.state == state_after(1)
    assert result.error is not None and "500" in result.error
    assert len(server.requests) == 1 + FAST.max_attempts
    assert recorder.turns[-1].speaker == "agent"


async def test_a_timeout_is_retried(openai_server: FakeOpenAIServer) -> None:
    openai_server.fail_next(Fault.timeout(1.0))
    result, _, _ = await play(openai_server, timeout=0.3)
    assert result.reason is TerminationReason.MAX_ROUNDS
    assert result.state == state_after(3)


async def test_persistent_timeouts_end_the_dialogue(openai_server: FakeOpenAIServer) -> None:
    openai_server.fail_next(*[Fault.timeout(1.0)] * FAST.max_attempts)
    result, _, _ = await play(openai_server, timeout=0.2)
    assert result.reason is TerminationReason.SIMULATOR_ERROR
    assert result.state == START
    assert result.error is not None and "0.2s" in result.error


async def test_a_malformed_response_body_is_retried(openai_server: FakeOpenAIServer) -> None:
    openai_server.fail_next(Fault.malformed())
    result, _, _ = await play(openai_server)
    assert result.reason is TerminationReason.MAX_ROUNDS
    assert result.state == state_after(3)


async def test_repairable_output_needs_no_extra_call() -> None:
    def script(request: FakeRequest) -> str:
        return "<think>hm</think>```json\n" + good(request)[:-1].replace('"trust_delta": 4',
                                                                         '"trust_delta": +4') + ",}\n```"

    with FakeOpenAIServer(script) as server:
        result, _, _ = await play(server)
    assert result.reason is TerminationReason.MAX_ROUNDS
    assert result.state == state_after(3)
    assert len(server.requests) == 3


async def test_never_valid_json_ends_unparseable_with_every_output_kept() -> None:
    def script(request: FakeRequest) -> str:
        return "I'd rather just talk, no JSON." if round_of(request) >= 2 else good(request)

    with FakeOpenAIServer(script) as server:
        result, _, _ = await play(server)
    assert result.reason is TerminationReason.SIMULATOR_UNPARSEABLE
    assert result.state == state_after(1)
    assert result.error is not None
    detail = json.loads(result.error)
    assert detail["raw"] == ["I'd rather just talk, no JSON."] * 3
    assert len(server.requests) == 1 + 3
    correction = server.requests[-1].body["messages"]
    assert correction[-2] == {"role": "assistant", "content": "I'd rather just talk, no JSON."}
    assert "could not be used" in correction[-1]["content"]


async def test_wrong_then_right_output_is_corrected() -> None:
    def script(request: FakeRequest) -> str:
        corrected = any("could not be used" in str(m.get("content"))
                        for m in request.body["messages"])
        return good(request) if corrected else '{"anger_delta": "a lot"}'

    with FakeOpenAIServer(script) as server:
        result, _, _ = await play(server)
    assert result.reason is TerminationReason.MAX_ROUNDS
    assert result.state == state_after(3)
    assert len(server.requests) == 6


async def test_anthropic_overload_is_survived_and_the_system_prompt_is_cached() -> None:
    with FakeAnthropicServer(lambda request: Answer(text=good(request))) as server:
        server.fail_next(Fault.server_error(529))
        result, _, sim = await play(server, provider="anthropic")
        requests = server.requests
    assert result.reason is TerminationReason.MAX_ROUNDS
    assert result.state == state_after(3)
    assert len(requests) == 4
    assert requests[1].body["tool_choice"]["type"] == "tool"
    assert requests[1].body["system"][0].get("cache_control")
    assert sim.backend.usage.cache_read_tokens > 0  # type: ignore[attr-defined]


async def test_anthropic_invalid_fields_end_unparseable() -> None:
    def script(request: FakeRequest) -> Answer:
        if round_of(request) >= 3:
            return Answer(text=json.dumps({"anger_delta": "lots", "reply": ""}))
        return Answer(text=good(request))

    with FakeAnthropicServer(script) as server:
        result, _, _ = await play(server, provider="anthropic")
    assert result.reason is TerminationReason.SIMULATOR_UNPARSEABLE
    assert result.state == state_after(2)
