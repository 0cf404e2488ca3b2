"""End to end on a real model: the LLM simulator on the packaged SmolLM2-135M GGUF.

The 135M model cannot role-play; these tests check the plumbing: real prompts, a real model,
schema-constrained output, parsing and the state update. The main test goes through the OpenAI
backend over real HTTP to llama.cpp's server; the second runs the same model in process
(``local:smollm2``), which needs no server extras.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from eibench.simulator.backends import ChatBackend, Sampling, get_backend
from eibench.simulator.llm import LLMSimulator
from eibench.simulator.parsing import OUTPUT_SCHEMA, parse_simulator_output
from eibench.simulator.probes import REPAIR
from eibench.simulator.state import State
from eibench.simulator.types import Update, Utterance

pytestmark = [pytest.mark.llama, pytest.mark.slow]
pytest.importorskip("llama_cpp")


def tight_schema() -> dict[str, Any]:
    """The answer schema reordered so free text comes last: the small model rambles until the
    token limit, and the parser then closes the cut-off string with every required field in
    hand. (``maxLength`` would bound the strings, but llama.cpp's grammar for it is very slow.)"""
    schema = copy.deepcopy(OUTPUT_SCHEMA)
    order = ("anger_delta", "trust_delta", "continue", "stop_reason", "reply", "reflection")
    schema["properties"] = {key: schema["properties"][key] for key in order}
    schema["properties"]["stop_reason"].update(maxLength=8)
    schema["properties"]["reply"].update(minLength=1)
    return schema


async def one_step(backend: ChatBackend) -> Update:
    sim = LLMSimulator(backend, sampling=Sampling(temperature=0.7, max_tokens=96),
                       output_schema=tight_schema())
    scenario = REPAIR.scenario
    state, opening = sim.open(scenario)
    assert opening is not None
    try:
        return await sim.step(scenario, state, [Utterance("user", opening)], REPAIR.good[0],
                              seed=1)
    finally:
        await sim.aclose()


def assert_well_formed(update: Update) -> None:
    assert isinstance(update, Update)
    assert isinstance(update.anger_delta, int) and isinstance(update.trust_delta, int)
    assert update.reply.strip()
    assert update.transition.before == State(75, 20)
    assert -10 <= update.applied_anger_delta <= 10 and -10 <= update.applied_trust_delta <= 10
    assert 0 <= update.state.anger <= 100 and 0 <= update.state.trust <= 100
    assert update.usage.calls == update.attempts >= 1
    assert update.usage.input_tokens > 500 and update.usage.output_tokens > 0
    assert parse_simulator_output(update.raw).reply == update.reply


async def test_llm_simulator_over_http_to_llama_cpp_server() -> None:
    from fakes.llama_server import llama_server, llama_server_available

    reason = llama_server_available()
    if reason:
        pytest.skip(reason)
    with llama_server(n_ctx=4096) as base_url:
        update = await one_step(get_backend("openai:smollm2", base_url=base_url,
                                            api_key="none", timeout=120))
    assert_well_formed(update)


async def test_llm_simulator_in_process_llama_cpp() -> None:
    from eibench.simulator.backends import MissingDependency
    from eibench.simulator.backends.llama_backend import resolve_model

    try:
        resolve_model("smollm2")
    except MissingDependency as exc:
        pytest.skip(str(exc))
    assert_well_formed(await one_step(get_backend("local:smollm2")))
