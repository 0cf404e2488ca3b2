"""The dialogue loop: openings, termination reasons, think stripping, recording, resume."""

from __future__ import annotations

import pytest

from eibench.harness.agents import AgentError, FunctionAgent, build_agent_messages
from eibench.harness.loop import ListRecorder, run_dialogue, score_state
from eibench.scenarios import read_pack
from eibench.simulator.types import TerminationReason

from toys import LINES, ToySimulator, agent


@pytest.fixture(scope="module")
def by_scene():
    out = {}
    for s in read_pack("starter", split="test").scenarios:
        out.setdefault(s.scene.value, s)
    return out


def toy_agent():
    return FunctionAgent(lambda scenario, history: agent(build_agent_messages(scenario, history)))


async def test_defense_user_opens_and_runs_eight_rounds(by_scene):
    scenario = by_scene["defense"]
    rec = ListRecorder()
    sim = ToySimulator()
    result = await run_dialogue(scenario, toy_agent(), sim, rec, seed=4)
    assert result.reason is TerminationReason.MAX_ROUNDS
    assert result.rounds == 8
    assert rec.turns[0].speaker == "user" and rec.turns[0].text == scenario.opening_line
    assert [t.speaker for t in rec.turns[1:]] == ["agent", "user"] * 8
    assert [t.idx for t in rec.turns] == list(range(17))
    assert [t.round for t in rec.turns[1::2]] == list(range(1, 9))
    # the think block is recorded but never reaches the simulator
    assert all(t.think.startswith("round") for t in rec.turns if t.speaker == "agent")
    assert all("<think>" not in s and "round" not in s for s in sim.seen)
    assert all(s in LINES for s in sim.seen)
    # state chain is consistent and the score is the anchor score of the final state
    for prev, cur in zip(rec.turns[2::2], rec.turns[4::2], strict=False):
        assert (cur.anger_before, cur.trust_before) == (prev.anger_after, prev.trust_after)
    assert result.score == score_state(scenario, result.state)
    assert "seed 4" in rec.turns[-1].text


async def test_charm_agent_opens(by_scene):
    scenario = by_scene["charm"]
    rec = ListRecorder()
    seen_messages = []

    def fn(s, history):
        msgs = build_agent_messages(s, history)
        seen_messages.append(msgs)
        return agent(msgs)

    result = await run_dialogue(scenario, FunctionAgent(fn), ToySimulator(), rec)
    assert rec.turns[0].speaker == "agent" and rec.turns[0].idx == 0
    assert seen_messages[0][-1]["role"] == "user"  # the cue to open
    assert "open the conversation" in seen_messages[0][-1]["content"]
    assert result.rounds == 8
    # later prompts carry earlier agent turns without their think blocks
    assert all("<think>" not in m["content"] for m in seen_messages[-1] if m["role"] == "assistant")
    assert sum(m["role"] == "assistant" for m in seen_messages[-1]) == 7


async def test_simulator_stop(by_scene):
    lines = iter(["Hello there.", "Okay, bye for now."] + ["unused"] * 10)
    rec = ListRecorder()
    result = await run_dialogue(by_scene["support"], FunctionAgent(lambda s, h: next(lines)),
                                ToySimulator(), rec)
    assert result.reason is TerminationReason.SIMULATOR_STOPPED
    assert result.rounds == 2 and rec.turns[-1].keep_going is False


async def test_simulator_unparseable_keeps_last_good_state(by_scene):
    rec = ListRecorder()
    result = await run_dialogue(by_scene["repair"], toy_agent(), ToySimulator(fail_at_round=3),
                                rec)
    assert result.reason is TerminationReason.SIMULATOR_UNPARSEABLE
    last_user = [t for t in rec.turns if t.speaker == "user"][-1]
    assert (result.state.anger, result.state.trust) == (last_user.anger_after,
                                                         last_user.trust_after)
    assert result.rounds == 2
    assert "more garbage" in result.error  # raw outputs kept


async def test_agent_error(by_scene):
    def boom(s, h):
        if len(h) > 2:
            raise AgentError("backend down")
        return "Fine."

    result = await run_dialogue(by_scene["defense"], FunctionAgent(boom), ToySimulator(),
                                ListRecorder())
    assert result.reason is TerminationReason.AGENT_ERROR and result.failed
    assert "backend down" in result.error


async def test_resume_from_any_point_equals_uninterrupted(by_scene):
    scenario = by_scene["defense"]
    full = ListRecorder()
    expected = await run_dialogue(scenario, toy_agent(), ToySimulator(), full, seed=2)
    for cut in range(1, len(full.turns)):
        rec = ListRecorder(turns=list(full.turns[:cut]))
        agent_calls = []

        def fn(s, h, calls=agent_calls):
            calls.append(len(h))
            return agent(build_agent_messages(s, h))

        got = await run_dialogue(scenario, FunctionAgent(fn), ToySimulator(), rec, seed=2,
                                 resume_from=full.turns[:cut])
        assert [(t.idx, t.speaker, t.text, t.anger_after) for t in rec.turns] == [
            (t.idx, t.speaker, t.text, t.anger_after) for t in full.turns]
        assert got.score == expected.score and got.reason == expected.reason
        # a recorded agent turn waiting for its answer is not asked again
        done_agent_turns = sum(1 for t in full.turns[:cut] if t.speaker == "agent")
        assert len(agent_calls) == 8 - done_agent_turns
