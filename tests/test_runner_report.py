"""Runs end to end with doubles, and report numbers checked against hand computation."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from eibench.cli.main import cli
from eibench.harness.agents import FunctionAgent, build_agent_messages
from eibench.harness.report import build_report, compare_runs, report_csv, report_markdown
from eibench.harness.runner import RunConfig, create_run, execute
from eibench.harness.stats import bootstrap_ci
from eibench.harness.store import Store, TurnRecord
from eibench.scenarios import read_pack

from toys import ToySimulator, agent


@pytest.fixture
def scenarios():
    return read_pack("starter", split="test").scenarios


def toy_agent():
    return FunctionAgent(lambda s, h: agent(build_agent_messages(s, h)), name="toy")


async def test_run_records_everything(tmp_path, scenarios):
    store = Store(tmp_path / "r.db")
    sim = ToySimulator()
    config = RunConfig(agent="toy", simulator="toy", pack="starter", seeds=2, seed=10)
    run = create_run(store, config, scenarios, simulator=sim, name="toyrun")
    progress = await execute(store, run, toy_agent(), sim, concurrency=3)
    assert progress.done == progress.total == 2 * len(scenarios)
    eps = store.episodes(run.id)
    assert len(eps) == 16 and all(e.status == "finished" for e in eps)
    assert sorted({e.seed for e in eps}) == [10, 11]
    for e in eps:
        turns = store.turns(e.id)
        assert [t.idx for t in turns] == list(range(len(turns)))
        assert e.rounds == 8
        last = [t for t in turns if t.speaker == "user"][-1]
        assert (e.anger, e.trust) == (last.anger_after, last.trust_after)
    assert store.get_run(run.id).status == "finished"
    report = build_report(store, run)
    assert report.finished == 16 and report.repeats == 2
    assert report.reliability["k"] == 2
    # a second execute has nothing to do and changes nothing
    before = store.change_counter()
    await execute(store, run, toy_agent(), sim)
    assert store.count_episodes(run.id, status="finished") == 16
    assert len(store.turns_for_run(run.id)) == 16
    assert store.change_counter() - before <= 2  # only the run status is touched
    store.close()


async def test_failures_are_recorded_not_raised(tmp_path, scenarios):
    store = Store(tmp_path / "r.db")

    class Exploding(ToySimulator):
        async def step(self, scenario, state, history, agent_text, *, seed=0):
            if scenario.scene.value == "repair":
                raise RuntimeError("bug in a simulator")
            return await super().step(scenario, state, history, agent_text, seed=seed)

    sim = Exploding(fail_at_round=2)
    run = create_run(store, RunConfig(agent="toy", simulator="toy"), scenarios, simulator=sim)
    await execute(store, run, toy_agent(), sim, concurrency=4)
    eps = store.episodes(run.id)
    assert all(e.status in ("finished", "failed") for e in eps)
    repair = [e for e in eps if e.scene == "repair"]
    assert all(e.status == "failed" and e.termination_reason == "harness_error" and
               "bug in a simulator" in e.error for e in repair)
    others = [e for e in eps if e.scene != "repair"]
    assert all(e.termination_reason == "simulator_unparseable" and e.score is not None
               for e in others)
    report = build_report(store, run)
    assert report.failed == 2 and report.termination == {"harness_error": 2,
                                                         "simulator_unparseable": 6}
    store.close()


def _hand_store(tmp_path, scenarios, scores_by_repeat, name):
    store = Store(tmp_path / "h.db")
    run = store.create_run(agent="hand", simulator="heuristic", simulator_kind="heuristic",
                           name=name)
    items = [(s, r, r) for s in scenarios for r in range(len(scores_by_repeat))]
    store.ensure_episodes(run.id, items)
    for e in store.episodes(run.id):
        score = scores_by_repeat[e.repeat][e.scenario_id]
        store.record_turn(e.id, TurnRecord(idx=0, round=1, speaker="agent", text="x",
                                           input_tokens=10, output_tokens=5, cost_usd=0.001))
        store.finish_episode(e.id, reason="max_rounds", anger=50, trust=50, score=score)
    return store, store.get_run(run.id)


def test_report_numbers_by_hand(tmp_path, scenarios):
    ids = [s.id for s in scenarios]
    scene = {s.id: s.scene.value for s in scenarios}
    r0 = {sid: v for sid, v in zip(ids, [0.5, -0.25, 0.1, 0.3, -0.5, 0.0, 1.0, 0.2], strict=True)}
    r1 = {sid: v for sid, v in zip(ids, [0.3, 0.25, -0.1, 0.3, -0.5, 0.4, 0.9, -0.2], strict=True)}
    store, run = _hand_store(tmp_path, scenarios, [r0, r1], "hand")
    report = build_report(store, run)
    allv = list(r0.values()) + list(r1.values())
    assert report.overall.n == 16
    assert report.overall.mean == pytest.approx(100 * sum(allv) / 16)
    for name in ("support", "defense", "repair", "charm"):
        vals = [v for r in (r0, r1) for sid, v in r.items() if scene[sid] == name]
        assert report.scenes[name].n == 4
        assert report.scenes[name].mean == pytest.approx(100 * sum(vals) / 4)
        assert report.scenes[name].ci_low <= report.scenes[name].mean <= report.scenes[name].ci_high
        assert report.scenes[name].ci_low >= 100 * min(vals) - 1e-9
    # pass^k: score > 0 in both repeats
    both = sum(1 for sid in ids if r0[sid] > 0 and r1[sid] > 0)
    assert report.reliability["pass_all_k"] == pytest.approx(both / 8)
    assert report.tokens == {"input": 160, "output": 80, "cost_usd": pytest.approx(0.016)}
    assert report.termination == {"max_rounds": 16}
    md = report_markdown(report)
    assert f"{report.overall.mean:+.1f}" in md and "heuristic" in md
    rows = report_csv(report).strip().splitlines()
    assert rows[-1].startswith("hand,hand,heuristic,overall,16,")
    store.close()


def test_bootstrap_ci_properties():
    assert bootstrap_ci([0.2]) == (0.2, 0.2)
    lo, hi = bootstrap_ci([0.0, 1.0] * 50)
    assert 0.38 < lo < 0.5 < hi < 0.62
    assert bootstrap_ci([0.1, 0.5, 0.9]) == bootstrap_ci([0.1, 0.5, 0.9])  # deterministic


def test_compare_paired(tmp_path, scenarios):
    ids = [s.id for s in scenarios]
    a = {sid: 0.0 for sid in ids}
    b = {sid: 0.5 for sid in ids}
    store = Store(tmp_path / "c.db")
    runs = []
    for name, scores in (("A", a), ("B", b)):
        run = store.create_run(agent=name, simulator="h", simulator_kind="heuristic", name=name)
        store.ensure_episodes(run.id, [(s, 0, 0) for s in scenarios])
        for e in store.episodes(run.id):
            store.finish_episode(e.id, reason="max_rounds", anger=1, trust=1,
                                 score=scores[e.scenario_id])
        runs.append(store.get_run(run.id))
    c = compare_runs(store, *runs)
    assert c.overall["pairs"] == 8 and c.overall["diff"] == pytest.approx(50.0)
    assert c.overall["ci_low"] == pytest.approx(50.0) == c.overall["ci_high"]
    assert set(c.scenes) == {"support", "defense", "repair", "charm"}
    store.close()
    out = CliRunner().invoke(cli, ["compare", "A", "B", "--db", str(tmp_path / "c.db"),
                                   "--format", "json"])
    assert out.exit_code == 0, out.output
    assert json.loads(out.output)["overall"]["diff"] == pytest.approx(50.0)


def test_report_cli_formats_and_plots(tmp_path, scenarios):
    store, _ = _hand_store(tmp_path, scenarios, [{s.id: 0.25 for s in scenarios}], "p")
    store.close()
    db = str(tmp_path / "h.db")
    runner = CliRunner()
    out = runner.invoke(cli, ["report", "p", "--db", db, "--format", "json"])
    assert out.exit_code == 0, out.output
    assert json.loads(out.output)["overall"]["mean"] == pytest.approx(25.0)
    out = runner.invoke(cli, ["report", "p", "--db", db, "--plot", str(tmp_path / "plots")])
    assert out.exit_code == 0, out.output
    pngs = sorted(p.name for p in (tmp_path / "plots").glob("*.png"))
    assert pngs == ["p-scenes.png", "p-trajectories.png"]
    assert all((tmp_path / "plots" / p).read_bytes()[:4] == b"\x89PNG" for p in pngs)
    out = runner.invoke(cli, ["export", "p", "--db", db])
    lines = [json.loads(x) for x in out.output.splitlines()]
    assert len(lines) == 8 and lines[0]["turns"][0]["text"] == "x"
    out = runner.invoke(cli, ["report", "nope", "--db", db])
    assert out.exit_code != 0 and "no run 'nope'" in out.output
    out = runner.invoke(cli, ["report", "--db", str(tmp_path / "missing.db")])
    assert out.exit_code != 0 and "no store" in out.output
