"""The MCP server in memory: every tool, resource and prompt, and every refusal."""

from __future__ import annotations

import asyncio
import json

import mcp
import pytest

from eibench.harness.report import build_report
from eibench.harness.store import Store
from eibench.scenarios import read_pack
from eibench.server import Engine, ServerSettings, create_server
from eibench.simulator.state import apply_deltas

from toys import LINES, ToySimulator

WAIT = 5.0


@pytest.fixture(scope="module")
def scenarios():
    return read_pack("starter").scenarios


@pytest.fixture
def db(tmp_path):
    return str(tmp_path / "mcp.db")


def make(db, scenarios, sim=None, **settings):
    engine = Engine(ServerSettings(db=db, **settings), simulator=sim or ToySimulator(),
                    scenarios=scenarios)
    return engine, create_server(engine=engine)


async def call(client, tool, **args):
    result = await client.call_tool(tool, args)
    assert not result.is_error, result.content
    return result.structured_content


async def refused(client, tool, **args) -> str:
    result = await client.call_tool(tool, args)
    assert result.is_error, result.structured_content
    return result.content[0].text


def first_of(scenarios, scene, split="test"):
    return next(s for s in scenarios if s.scene.value == scene and s.split == split)


async def test_tools_are_described(db, scenarios):
    _, server = make(db, scenarios)
    async with mcp.Client(server) as client:
        tools = {t.name: t for t in (await client.list_tools()).tools}
        assert set(tools) == {"list_scenarios", "start_conversation", "say", "end_conversation"}
        assert "<think>" in tools["say"].description and "over" in tools["say"].description
        assert tools["say"].input_schema["required"] == ["conversation_id", "message"]
        assert tools["end_conversation"].output_schema["properties"]["score"]
        assert tools["list_scenarios"].annotations.read_only_hint is True
        assert "start_conversation" in (client.instructions or "")


async def test_list_scenarios_filters(db, scenarios):
    _, server = make(db, scenarios)
    async with mcp.Client(server) as client:
        everything = await call(client, "list_scenarios")
        assert everything["total"] == len(scenarios) == 16
        defense = await call(client, "list_scenarios", scene="defense", split="test")
        assert defense["total"] == 2
        assert {s["scene"] for s in defense["scenarios"]} == {"defense"}
        charm = await call(client, "list_scenarios", scene="charm", limit=1)
        assert charm["total"] == 4 and len(charm["scenarios"]) == 1
        assert charm["scenarios"][0]["agent_opens"] is True
        none = await call(client, "list_scenarios", language="zh")
        assert none == {"scenarios": [], "total": 0}
        assert "scene" in await refused(client, "list_scenarios", scene="anger")
        assert "limit" in await refused(client, "list_scenarios", limit=0)


async def test_defense_conversation_to_max_rounds(db, scenarios):
    scenario = first_of(scenarios, "defense")
    sim = ToySimulator()
    engine, server = make(db, scenarios, sim)
    async with mcp.Client(server) as client:
        started = await call(client, "start_conversation", scenario_id=scenario.id)
        cid = started["conversation_id"]
        assert started["opening_line"] == scenario.opening_line
        assert started["agent_opens"] is False and started["max_rounds"] == 8
        assert started["agent_brief"].startswith(scenario.agent_persona)
        assert "<think>" in started["agent_brief"] and started["state"] is None
        for i in range(8):
            said = await call(client, "say", conversation_id=cid,
                              message=f"<think>plan {i}</think>{LINES[i]}")
            assert said["reply"] == f"reply {i + 1} (seed 0)"
            assert said["round"] == f"{i + 1}/8" and said["think_recorded"] is True
            assert said["state"] is None and said["delta"] is None
            assert said["over"] is (i == 7)
        assert said["reason"] == "max_rounds" and "end_conversation" in said["next_step"]
        assert "is over (max_rounds)" in await refused(client, "say", conversation_id=cid,
                                                       message="one more thing")
        run_id = engine.run.id
        result = await call(client, "end_conversation", conversation_id=cid)
        again = await call(client, "end_conversation", conversation_id=cid)
        assert again == result
    # the simulator heard only the spoken words
    assert sim.seen == LINES[:8]
    assert result["reason"] == "max_rounds" and result["rounds"] == 8
    assert len(result["trajectory"]) == 9
    assert result["trajectory"][0] == {"round": 0, "anger": scenario.start.anger,
                                       "trust": scenario.start.trust, "anger_delta": 0,
                                       "trust_delta": 0}
    with Store(db, readonly=True) as store:
        run = store.get_run(run_id)
        assert run.agent == "mcp" and run.simulator == "toy" and run.status == "finished"
        (ep,) = store.episodes(run.id)
        assert ep.status == "finished" and ep.termination_reason == "max_rounds"
        assert result["raw_score"] == pytest.approx(ep.score)
        assert result["score"] == pytest.approx(round(100 * ep.score, 2))
        assert (ep.anger, ep.trust) == (result["final_state"]["anger"],
                                        result["final_state"]["trust"])
        turns = store.turns(ep.id)
        assert [t.speaker for t in turns] == ["user"] + ["agent", "user"] * 8
        assert [t.idx for t in turns] == list(range(17))
        assert [t.think for t in turns if t.speaker == "agent"] == [f"plan {i}" for i in range(8)]
        assert [t.text for t in turns if t.speaker == "agent"] == LINES[:8]
        assert [(p["anger"], p["trust"]) for p in result["trajectory"][1:]] == [
            (t.anger_after, t.trust_after) for t in turns if t.speaker == "user" and t.round]
        report = build_report(store, run)
        assert report.finished == 1 and report.termination == {"max_rounds": 1}
        assert report.scenes["defense"].mean == pytest.approx(100 * ep.score)


async def test_charm_agent_opens_and_user_can_stop(db, scenarios):
    scenario = first_of(scenarios, "charm")
    _, server = make(db, scenarios)
    async with mcp.Client(server) as client:
        started = await call(client, "start_conversation", scenario_id=scenario.id)
        assert started["opening_line"] is None and started["agent_opens"] is True
        assert "You speak first" in started["next_step"]
        cid = started["conversation_id"]
        said = await call(client, "say", conversation_id=cid, message="Hello there, is this seat free?")
        assert said["round"] == "1/8" and said["over"] is False
        said = await call(client, "say", conversation_id=cid, message="Lovely chat, bye!")
        assert said["over"] is True and said["reason"] == "simulator_stopped"
        result = await call(client, "end_conversation", conversation_id=cid)
    assert result["reason"] == "simulator_stopped" and result["rounds"] == 2
    with Store(db, readonly=True) as store:
        (ep,) = store.episodes(store.get_run("latest").id)
        turns = store.turns(ep.id)
    assert [t.speaker for t in turns] == ["agent", "user"] * 2 and turns[0].idx == 0


async def test_ending_early_is_cancelled_and_scored(db, scenarios):
    scenario = first_of(scenarios, "repair")
    _, server = make(db, scenarios)
    async with mcp.Client(server) as client:
        cid = (await call(client, "start_conversation", scenario_id=scenario.id))["conversation_id"]
        await call(client, "say", conversation_id=cid, message="I will fix it by 6 pm today.")
        result = await call(client, "end_conversation", conversation_id=cid)
        assert result["reason"] == "cancelled" and result["rounds"] == 1
        assert result["score"] is not None and "Ended before" in result["note"]
        assert "is over (cancelled)" in await refused(client, "say", conversation_id=cid,
                                                      message="wait")
        transcript = json.loads((await client.read_resource(
            f"eibench://conversations/{cid}")).contents[0].text)
    assert transcript["status"] == "finished" and transcript["reason"] == "cancelled"
    # once over, the transcript shows the state
    assert transcript["turns"][-1]["anger"] == result["final_state"]["anger"]


async def test_think_only_empty_and_oversize_messages_are_refused(db, scenarios):
    scenario = first_of(scenarios, "support")
    sim = ToySimulator()
    engine, server = make(db, scenarios, sim, max_message_chars=50)
    async with mcp.Client(server) as client:
        cid = (await call(client, "start_conversation", scenario_id=scenario.id))["conversation_id"]
        assert "only a think block" in await refused(client, "say", conversation_id=cid,
                                                     message="<think>just thinking</think>")
        assert "no spoken words" in await refused(client, "say", conversation_id=cid,
                                                  message="   ")
        text = await refused(client, "say", conversation_id=cid, message="x" * 51)
        assert "51 characters" in text and "at most 50" in text
        said = await call(client, "say", conversation_id=cid, message="I'm here. What happened?")
        assert said["round"] == "1/8" and said["think_recorded"] is False
        turns = engine.store.turns(engine.store.episodes(engine.run.id)[0].id)
    assert sim.seen == ["I'm here. What happened?"]
    assert len(turns) == 3


async def test_bad_arguments_never_crash_the_server(db, scenarios):
    _, server = make(db, scenarios)
    async with mcp.Client(server) as client:
        assert "conversation_id" in await refused(client, "say", conversation_id=5, message="hi")
        assert "message" in await refused(client, "say", conversation_id="c1-aa")
        assert "scenario_id" in await refused(client, "start_conversation")
        assert "scenario_id" in await refused(client, "start_conversation", scenario_id=["x"])
        assert await refused(client, "no_such_tool")
        assert "conversation_id" in await refused(client, "say", conversation_id="x" * 5000,
                                                  message="hi")
        assert "not a conversation id" in await refused(client, "end_conversation",
                                                        conversation_id="hello")
        unknown = await refused(client, "start_conversation", scenario_id="starter_test_defens_01")
        assert "unknown scenario" in unknown and "starter_test_defense_01" in unknown
        # still serving
        assert (await call(client, "list_scenarios", limit=1))["total"] == 16


async def test_unknown_damaged_and_foreign_conversation_ids(db, scenarios):
    scenario = first_of(scenarios, "defense")
    _, server_a = make(db, scenarios, run_name="first")
    async with mcp.Client(server_a) as a:
        foreign = (await call(a, "start_conversation", scenario_id=scenario.id))["conversation_id"]
        own = (await call(a, "start_conversation", scenario_id=scenario.id))["conversation_id"]
        damaged = own[:-1] + ("0" if own[-1] != "0" else "1")
        assert "damaged" in await refused(a, "say", conversation_id=damaged, message="hi")
        assert "unknown conversation" in await refused(a, "say", conversation_id="c999-" + "0" * 16,
                                                       message="hi")
    _, server_b = make(db, scenarios, run_name="second")
    async with mcp.Client(server_b) as b:
        text = await refused(b, "say", conversation_id=foreign, message="hi")
        assert "belongs to run 'first'" in text and "'second'" in text
        text = await refused(b, "end_conversation", conversation_id=foreign)
        assert "belongs to run 'first'" in text


async def test_foreign_transcript_is_refused(db, scenarios):
    scenario = first_of(scenarios, "defense")
    _, server_a = make(db, scenarios, run_name="first")
    async with mcp.Client(server_a) as a:
        foreign = (await call(a, "start_conversation", scenario_id=scenario.id))["conversation_id"]
    _, server_b = make(db, scenarios, run_name="second")
    async with mcp.Client(server_b) as b:
        with pytest.raises(mcp.MCPError, match="belongs to run 'first'"):
            await b.read_resource(f"eibench://conversations/{foreign}")


async def test_open_conversation_limit(db, scenarios):
    scenario = first_of(scenarios, "support")
    _, server = make(db, scenarios, max_conversations=2)
    async with mcp.Client(server) as client:
        a = (await call(client, "start_conversation", scenario_id=scenario.id))["conversation_id"]
        await call(client, "start_conversation", scenario_id=scenario.id)
        text = await refused(client, "start_conversation", scenario_id=scenario.id)
        assert "2 conversations are open" in text and "--max-conversations 2" in text
        await call(client, "end_conversation", conversation_id=a)
        await call(client, "start_conversation", scenario_id=scenario.id)


async def test_idle_conversations_are_closed_not_leaked(db, scenarios):
    scenario = first_of(scenarios, "defense")
    now = [1000.0]
    engine = Engine(ServerSettings(db=db, idle_timeout_s=60), simulator=ToySimulator(),
                    scenarios=scenarios, clock=lambda: now[0])
    server = create_server(engine=engine)
    async with mcp.Client(server) as client:
        quiet = (await call(client, "start_conversation", scenario_id=scenario.id))["conversation_id"]
        busy = (await call(client, "start_conversation", scenario_id=scenario.id))["conversation_id"]
        now[0] += 50
        await call(client, "say", conversation_id=busy, message="I will call at 6 pm.")
        assert engine.sweep() == []
        now[0] += 20
        assert engine.sweep() == [quiet]
        assert engine.open_count == 1
        text = await refused(client, "say", conversation_id=quiet, message="hello?")
        assert "cancelled: closed by the server after 60 s without a message" in text
        result = await call(client, "end_conversation", conversation_id=quiet)
        assert result["reason"] == "cancelled" and "60 s" in result["note"]
        await call(client, "say", conversation_id=busy, message="Still here.")


async def test_background_sweep_closes_idle_conversations(db, scenarios):
    scenario = first_of(scenarios, "defense")
    engine, server = make(db, scenarios, idle_timeout_s=0.05)
    closed = asyncio.Event()
    engine.listeners.append(lambda cid, reason: closed.set())
    async with mcp.Client(server) as client:
        cid = (await call(client, "start_conversation", scenario_id=scenario.id))["conversation_id"]
        await asyncio.wait_for(closed.wait(), WAIT)
        assert "is over (cancelled" in await refused(client, "say", conversation_id=cid,
                                                     message="hi")


async def test_server_stop_closes_open_conversations(db, scenarios):
    scenario = first_of(scenarios, "repair")
    engine, server = make(db, scenarios)
    async with mcp.Client(server) as client:
        cid = (await call(client, "start_conversation", scenario_id=scenario.id))["conversation_id"]
        await call(client, "say", conversation_id=cid, message="I was wrong, and I will fix it.")
        run_id = engine.run.id
    with Store(db, readonly=True) as store:
        (ep,) = store.episodes(run_id)
        assert ep.status == "finished" and ep.termination_reason == "cancelled"
        assert "server stopped" in ep.error
        assert store.get_run(run_id).status == "finished"


class YieldingSimulator(ToySimulator):
    """Yields to the loop inside every step, so unserialised turns would overlap."""

    def __init__(self) -> None:
        super().__init__()
        self.active = 0
        self.most = 0

    async def step(self, scenario, state, history, agent_text, *, seed=0):
        self.active += 1
        self.most = max(self.most, self.active)
        for _ in range(5):
            await asyncio.sleep(0)
        try:
            return await super().step(scenario, state, history, agent_text, seed=seed)
        finally:
            self.active -= 1


async def test_concurrent_says_on_one_conversation_are_serialised(db, scenarios):
    scenario = first_of(scenarios, "defense")
    sim = YieldingSimulator()
    engine, server = make(db, scenarios, sim)
    async with mcp.Client(server) as client:
        cid = (await call(client, "start_conversation", scenario_id=scenario.id))["conversation_id"]
        results = await asyncio.gather(*(call(client, "say", conversation_id=cid,
                                              message=f"Line {i}.") for i in range(4)))
        other = (await call(client, "start_conversation", scenario_id=scenario.id))["conversation_id"]
        both = await asyncio.gather(call(client, "say", conversation_id=cid, message="More."),
                                    call(client, "say", conversation_id=other, message="Hi."))
        turns = engine.store.turns(engine.store.episodes(engine.run.id)[0].id)
    assert sorted(r["round"] for r in results) == ["1/8", "2/8", "3/8", "4/8"]
    assert sim.most == 2  # two conversations may overlap; one conversation never does
    assert both[0]["round"] == "5/8" and both[1]["round"] == "1/8"
    assert [t.speaker for t in turns] == ["user"] + ["agent", "user"] * 5
    for prev, cur in zip(turns[2::2], turns[4::2], strict=False):
        assert (cur.anger_before, cur.trust_before) == (prev.anger_after, prev.trust_after)


async def test_reveal_state_shows_state_and_persona(db, scenarios):
    scenario = first_of(scenarios, "defense")
    _, server = make(db, scenarios, reveal_state=True)
    async with mcp.Client(server) as client:
        started = await call(client, "start_conversation", scenario_id=scenario.id)
        assert started["state"] == {"anger": scenario.start.anger, "trust": scenario.start.trust}
        cid = started["conversation_id"]
        said = await call(client, "say", conversation_id=cid, message="I will call at 6 pm?")
        expected = apply_deltas(_state(scenario), -4, 3).after
        assert said["state"] == {"anger": expected.anger, "trust": expected.trust}
        assert said["delta"] == {"anger": expected.anger - scenario.start.anger,
                                 "trust": expected.trust - scenario.start.trust}
        view = json.loads((await client.read_resource(
            f"eibench://scenarios/{scenario.id}")).contents[0].text)
        assert view["user_persona"] == scenario.user_persona
        assert view["anchors"]["success"] == scenario.success.model_dump()
        transcript = json.loads((await client.read_resource(
            f"eibench://conversations/{cid}")).contents[0].text)
        assert transcript["turns"][-1]["anger"] == expected.anger
        assert transcript["turns"][-1]["reflection"] == "r1"


def _state(scenario):
    from eibench.simulator.state import State

    return State(scenario.start.anger, scenario.start.trust)


async def test_resources_hide_what_a_harness_agent_does_not_see(db, scenarios):
    scenario = first_of(scenarios, "charm")
    _, server = make(db, scenarios)
    async with mcp.Client(server) as client:
        templates = {t.uri_template for t in (await client.list_resource_templates())
                     .resource_templates}
        assert templates == {"eibench://scenarios/{scenario_id}",
                             "eibench://conversations/{conversation_id}"}
        view = json.loads((await client.read_resource(
            f"eibench://scenarios/{scenario.id}")).contents[0].text)
        assert view["agent_opens"] is True and "open the conversation" in view["open_cue"]
        assert view["agent_brief"].startswith(scenario.agent_persona)
        hidden = {"user_persona", "anchors", "goal", "success_criteria", "must_avoid"}
        assert not hidden & set(view)
        assert scenario.user_persona not in json.dumps(view)
        cid = (await call(client, "start_conversation", scenario_id=scenario.id))["conversation_id"]
        await call(client, "say", conversation_id=cid, message="<think>warm</think>Morning!")
        transcript = json.loads((await client.read_resource(
            f"eibench://conversations/{cid}")).contents[0].text)
        assert transcript["status"] == "running" and transcript["rounds_played"] == 1
        agent_turn, user_turn = transcript["turns"]
        assert agent_turn["think"] == "warm" and agent_turn["text"] == "Morning!"
        assert user_turn["anger"] is None and user_turn["reflection"] is None
        with pytest.raises(mcp.MCPError, match="unknown scenario"):
            await client.read_resource("eibench://scenarios/nope")
        with pytest.raises(mcp.MCPError, match="not a conversation id"):
            await client.read_resource("eibench://conversations/nope")


async def test_prompt_builds_a_system_prompt(db, scenarios):
    scenario = first_of(scenarios, "support")
    _, server = make(db, scenarios)
    async with mcp.Client(server) as client:
        prompts = (await client.list_prompts()).prompts
        assert [p.name for p in prompts] == ["agent_system_prompt"]
        got = await client.get_prompt("agent_system_prompt", {"scenario_id": scenario.id})
        text = got.messages[0].content.text
        assert text.startswith(scenario.agent_persona)
        assert "only the words you say out loud" in text
        assert f"scenario_id {scenario.id!r}" in text and "end_conversation" in text
        with pytest.raises(mcp.MCPError, match="unknown scenario"):
            await client.get_prompt("agent_system_prompt", {"scenario_id": "nope"})


async def test_simulator_failures_end_the_conversation_cleanly(db, scenarios):
    scenario = first_of(scenarios, "defense")
    _, server = make(db, scenarios, ToySimulator(fail_at_round=2))
    async with mcp.Client(server) as client:
        cid = (await call(client, "start_conversation", scenario_id=scenario.id))["conversation_id"]
        await call(client, "say", conversation_id=cid, message="I will call at 6 pm.")
        said = await call(client, "say", conversation_id=cid, message="Does that work?")
        assert said["over"] is True and said["reply"] is None
        assert said["reason"] == "simulator_unparseable" and said["round"] == "1/8"
        result = await call(client, "end_conversation", conversation_id=cid)
    assert result["reason"] == "simulator_unparseable" and result["rounds"] == 1
    with Store(db, readonly=True) as store:
        (ep,) = store.episodes(store.get_run("latest").id)
        assert "garbage" in ep.error  # the simulator's raw outputs are kept
        assert [t.speaker for t in store.turns(ep.id)] == ["user", "agent", "user", "agent"]


async def test_tokens_of_a_failed_step_are_accounted(db, scenarios):
    from eibench.simulator.backends.base import Usage
    from eibench.simulator.types import SimulatorFailure, TerminationReason

    class Costly(ToySimulator):
        async def step(self, *args, **kwargs):
            raise SimulatorFailure(TerminationReason.SIMULATOR_ERROR, "backend down",
                                   usage=Usage(input_tokens=120, output_tokens=7))

    engine, server = make(db, scenarios, Costly())
    async with mcp.Client(server) as client:
        cid = (await call(client, "start_conversation",
                          scenario_id=first_of(scenarios, "repair").id))["conversation_id"]
        said = await call(client, "say", conversation_id=cid, message="I'm sorry.")
        assert said["reason"] == "simulator_error" and said["reply"] is None
        (ep,) = engine.store.episodes(engine.run.id)
    assert ep.status == "failed" and (ep.input_tokens, ep.output_tokens) == (120, 7)


async def test_a_crashing_simulator_does_not_take_the_server_down(db, scenarios):
    scenario = first_of(scenarios, "defense")

    class Crashing(ToySimulator):
        async def step(self, *args, **kwargs):
            raise RuntimeError("bug in a simulator")

    _, server = make(db, scenarios, Crashing())
    async with mcp.Client(server) as client:
        cid = (await call(client, "start_conversation", scenario_id=scenario.id))["conversation_id"]
        said = await call(client, "say", conversation_id=cid, message="Hello.")
        assert said["over"] is True and said["reason"] == "harness_error"
        result = await call(client, "end_conversation", conversation_id=cid)
        assert result["status"] == "failed" and result["score"] is None
        assert (await call(client, "list_scenarios", limit=1))["total"] == 16


class GatedSimulator(ToySimulator):
    def __init__(self) -> None:
        super().__init__()
        self.entered = asyncio.Event()
        self.release = asyncio.Event()

    async def step(self, *args, **kwargs):
        self.entered.set()
        await self.release.wait()
        return await super().step(*args, **kwargs)


async def test_a_cancelled_say_still_records_and_hands_over_the_reply(db, scenarios):
    scenario = first_of(scenarios, "defense")
    sim = GatedSimulator()
    engine = Engine(ServerSettings(db=db), simulator=sim, scenarios=scenarios)
    async with engine.running():
        cid = engine.start(scenario.id).conversation_id
        task = asyncio.create_task(engine.say(cid, "I will call at 6 pm."))
        await asyncio.wait_for(sim.entered.wait(), WAIT)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        sim.release.set()
        with pytest.raises(Exception, match="The user said: 'reply 1 \\(seed 0\\)'") as info:
            await asyncio.wait_for(engine.say(cid, "Hello?"), WAIT)
        assert "not sent" in str(info.value)
        said = await engine.say(cid, "Sorry, go on.")
        assert said.round == "2/8"
        turns = engine.store.turns(engine.store.episodes(engine.run.id)[0].id)
    assert [t.text for t in turns if t.speaker == "agent"] == ["I will call at 6 pm.",
                                                               "Sorry, go on."]


async def test_run_name_reuses_mcp_runs_only(db, scenarios):
    scenario = first_of(scenarios, "defense")
    engine = Engine(ServerSettings(db=db, run_name="shared"), simulator=ToySimulator(),
                    scenarios=scenarios)
    run = engine.open()
    engine.start(scenario.id)
    engine._store.close()  # a crash: the open conversation is never closed
    engine._store = None
    again = Engine(ServerSettings(db=db, run_name="shared"), simulator=ToySimulator(),
                   scenarios=scenarios)
    assert again.open().id == run.id
    (ep,) = again.store.episodes(run.id)
    assert ep.status == "finished" and ep.termination_reason == "cancelled"
    again.close()
    with Store(db) as store:
        store.create_run(agent="openai:x", simulator="toy", simulator_kind="heuristic",
                         name="harness-run")
    other = Engine(ServerSettings(db=db, run_name="harness-run"), simulator=ToySimulator(),
                   scenarios=scenarios)
    with pytest.raises(Exception, match="not recorded by `eibench serve`"):
        other.open()


def test_settings_refuse_nonsense():
    with pytest.raises(ValueError, match="--pack or --official"):
        ServerSettings(pack="starter", official="/x")
    with pytest.raises(ValueError, match="max_conversations"):
        ServerSettings(max_conversations=0)
    with pytest.raises(ValueError, match="idle_timeout_s"):
        ServerSettings(idle_timeout_s=0)


async def test_handlers_run_on_the_event_loop_thread(db, scenarios):
    import threading

    class ThreadNoting(ToySimulator):
        def open(self, scenario):
            self.opened_on = threading.get_ident()
            return super().open(scenario)

    sim = ThreadNoting()
    _, server = make(db, scenarios, sim)
    async with mcp.Client(server) as client:
        await call(client, "start_conversation", scenario_id=first_of(scenarios, "defense").id)
    # the store and the open conversations are not thread-safe: no worker threads
    assert sim.opened_on == threading.get_ident()


async def test_bearer_token_middleware():
    import httpx

    from eibench.server.auth import BearerTokenMiddleware

    async def app(scope, receive, send):
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"in"})

    guarded = BearerTokenMiddleware(app, "s3cret")
    transport = httpx.ASGITransport(app=guarded)
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
        for header, ok in ((None, False), ("Bearer s3cret", True), ("bearer s3cret", True),
                           ("Bearer s3cre", False), ("s3cret", False), ("Basic s3cret", False),
                           ("Bearer ", False), ("Bearer s3cret2", False)):
            response = await client.get("/mcp", headers={"Authorization": header} if header
                                        else {})
            assert (response.status_code == 200) is ok, header
            if not ok:
                assert response.status_code == 401
                assert response.headers["www-authenticate"].startswith("Bearer")
                assert "s3cret" not in response.text
    with pytest.raises(ValueError, match="must not be empty"):
        BearerTokenMiddleware(app, " ")
