"""CTC-GRPO arithmetic and trajectories -> samples (no torch needed)."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st

from eibench.cli.main import cli
from eibench.harness.runner import RunConfig, create_run
from eibench.harness.store import Store
from eibench.harness.think import split_think
from eibench.scenarios import Anchor, read_pack
from eibench.simulator.state import apply_deltas
from eibench.simulator.types import Update
from eibench.train.advantages import (
    group_advantages,
    outcome_reward,
    turn_credit,
    turn_score,
)
from eibench.train.export import load_samples, write_export
from eibench.train.samples import build_samples, read_rollouts, samples_from_store

from toys import ToySimulator
from train_helpers import record as _record

# -- the formulas, against hand computation ----------------------------------------------------


def test_outcome_reward_penalties_and_clip():
    assert outcome_reward(0.5, n_turns=4, n_missing_think=1, any_malformed=True) == \
        pytest.approx(0.5 - 0.2 * 0.25 - 0.05)
    assert outcome_reward(0.5, n_turns=4, n_missing_think=0, any_malformed=False) == 0.5
    assert outcome_reward(-1.0, n_turns=2, n_missing_think=2, any_malformed=True) == -1.0
    assert outcome_reward(1.0, n_turns=3, n_missing_think=0, any_malformed=False) == 1.0
    assert outcome_reward(-0.9, n_turns=5, n_missing_think=5, any_malformed=False) == -1.0
    with pytest.raises(ValueError, match="n_missing_think"):
        outcome_reward(0.1, n_turns=2, n_missing_think=3, any_malformed=False)
    with pytest.raises(ValueError, match="finite"):
        outcome_reward(math.nan, n_turns=1, n_missing_think=0, any_malformed=False)


def test_turn_score_from_applied_deltas():
    assert turn_score(-4, 6) == pytest.approx(0.5 * 0.04 + 0.5 * 0.06)
    assert turn_score(10, -10) == pytest.approx(-0.1)
    assert turn_score(None, None) == 0.0


def test_group_advantages_hand_computed():
    # mean 0, unbiased std sqrt((0.25 + 0.25 + 0) / 2) = 0.5
    assert group_advantages([0.5, -0.5, 0.0]) == pytest.approx(
        [0.5 / (0.5 + 1e-6), -0.5 / (0.5 + 1e-6), 0.0])
    # std 0.01414 is floored at 0.1
    assert group_advantages([0.31, 0.29]) == pytest.approx([0.01 / 0.100001, -0.01 / 0.100001])


def test_group_of_one_and_zero_variance():
    assert group_advantages([0.4]) == pytest.approx([0.4 / (1 + 1e-6)])
    assert group_advantages([-1.0]) == pytest.approx([-1.0 / (1 + 1e-6)])
    assert group_advantages([0.3, 0.3, 0.3]) == [0.0, 0.0, 0.0]
    with pytest.raises(ValueError):
        group_advantages([])


def test_turn_credit_centred_uncentred_plain():
    scores = [0.05, -0.01, 0.02]  # mean 0.02
    assert turn_credit(0.5, scores) == pytest.approx([0.5 + 15 * 0.03, 0.5 - 15 * 0.03, 0.5])
    assert turn_credit(0.5, scores, center=False) == pytest.approx([1.25, 0.35, 0.8])
    assert turn_credit(0.5, scores, alpha=0.0) == [0.5, 0.5, 0.5]
    assert turn_credit(-0.7, [0.08]) == [-0.7]
    assert turn_credit(-0.7, [0.08], center=False) == pytest.approx([-0.7 + 15 * 0.08])
    assert turn_credit(0.3, []) == []


@given(adv=st.floats(-10, 10), scores=st.lists(st.floats(-0.1, 0.1), min_size=1, max_size=8),
       alpha=st.floats(0, 50))
def test_centred_credit_keeps_the_rollout_mean(adv, scores, alpha):
    credits = turn_credit(adv, scores, alpha=alpha)
    assert sum(credits) / len(credits) == pytest.approx(adv, abs=1e-9)
    centred_terms = [c - adv for c in credits]
    assert sum(centred_terms) == pytest.approx(0.0, abs=1e-9)


# -- trajectories from the harness -------------------------------------------------------------


@pytest.fixture
def scenarios():
    return read_pack("starter", split="train").scenarios


async def test_samples_rebuild_prompts_and_match_the_formulas(tmp_path, scenarios):
    from eibench.simulator.heuristic import HeuristicSimulator

    store = Store(tmp_path / "s.db")
    run, agent = await _record(store, scenarios, HeuristicSimulator())
    sample_set = samples_from_store(store, run.id)
    episodes = {e.id: e for e in store.episodes(run.id)}
    assert sample_set.stats.rollouts == len(episodes) == 3 * len(scenarios)
    assert sample_set.stats.groups == len(scenarios)
    n_agent = sum(1 for ts in store.turns_for_run(run.id).values() for t in ts
                  if t.speaker == "agent")
    assert len(sample_set.samples) == n_agent
    by_episode: dict[int, list] = {}
    for s in sample_set.samples:
        by_episode.setdefault(s.episode_id, []).append(s)
        ep = episodes[s.episode_id]
        # the exact prompt the agent saw, and the full output with its think block
        assert s.prompt == agent.seen[(s.scenario_id, ep.seed, s.round)]
        if ep.seed % 10 not in (3, 4):
            assert s.response.startswith("<think>round ")
    charm = next(s for s in sample_set.samples if s.scene == "charm" and s.round == 1)
    assert charm.prompt[0]["role"] == "system" and charm.prompt[1]["role"] == "user"
    # recompute every advantage by hand from the store
    groups: dict[str, list[int]] = {}
    for ep in episodes.values():
        groups.setdefault(ep.scenario_key, []).append(ep.id)
    for members in groups.values():
        rewards = []
        for eid in members:
            turns = store.turns(eid)
            agent_turns = [t for t in turns if t.speaker == "agent"]
            splits = [split_think(t.raw or t.text) for t in agent_turns]
            missing = sum(1 for sp in splits if not sp.has_think or not sp.think)
            reward = max(-1.0, min(1.0, episodes[eid].score - 0.2 * missing / len(agent_turns)
                                   - (0.05 if any(sp.malformed for sp in splits) else 0.0)))
            rewards.append(reward)
            assert by_episode[eid][0].reward == pytest.approx(reward)
        mean = sum(rewards) / len(rewards)
        std = math.sqrt(sum((r - mean) ** 2 for r in rewards) / (len(rewards) - 1))
        for eid, reward in zip(members, rewards, strict=True):
            a_i = (reward - mean) / (max(std, 0.1) + 1e-6)
            turns = store.turns(eid)
            r_t = [0.5 * (-u.anger_delta / 100) + 0.5 * (u.trust_delta / 100)
                   for u in turns if u.speaker == "user" and u.round > 0]
            got = by_episode[eid]
            assert [s.rollout_advantage for s in got] == pytest.approx([a_i] * len(got))
            assert [s.turn_score for s in got] == pytest.approx(r_t)
            mean_r = sum(r_t) / len(r_t)
            assert [s.advantage for s in got] == pytest.approx(
                [a_i + 15 * (r - mean_r) for r in r_t])
            assert sum(s.advantage for s in got) / len(got) == pytest.approx(a_i)
    # the penalised rollouts really are penalised
    seeds = {e.seed for e in episodes.values()}
    assert {3, 4} <= seeds
    no_think = [s for s in sample_set.samples if episodes[s.episode_id].seed == 3]
    assert all(not s.has_think for s in no_think)
    assert no_think[0].reward == pytest.approx(max(-1, no_think[0].score - 0.2))
    empty = [s for s in sample_set.samples if episodes[s.episode_id].seed == 4]
    assert all(s.malformed for s in empty)
    assert empty[0].reward == pytest.approx(max(-1, empty[0].score - 0.2 - 0.05))
    store.close()


class FixedDeltas:
    """Proposes the same deltas every turn, so the state hits its bounds."""

    name = "fixed"
    kind = "heuristic"
    prompt_hash = None

    def __init__(self, anger: int, trust: int) -> None:
        self.anger, self.trust = anger, trust

    def open(self, scenario):
        return ToySimulator().open(scenario)

    async def step(self, scenario, state, history, agent_text, *, seed=0):
        t = apply_deltas(state, self.anger, self.trust)
        return Update(reflection="", anger_delta=self.anger, trust_delta=self.trust, reply="ok",
                      keep_going=True, stop_reason="", transition=t)


async def test_turn_scores_use_deltas_clipped_at_the_state_bounds(tmp_path, scenarios):
    near = scenarios[0].model_copy(update={
        "start": Anchor(anger=5, trust=95), "success": Anchor(anger=0, trust=100),
        "failure": Anchor(anger=50, trust=50)})
    store = Store(tmp_path / "s.db")
    run, _ = await _record(store, [near], FixedDeltas(-8, 8), seeds=1)
    sample_set = samples_from_store(store, run.id)
    # applied deltas: (-5, +5), then (0, 0): the raw -8/+8 would have scored 0.08 each turn
    scores = [s.turn_score for s in sample_set.samples]
    assert scores[:2] == pytest.approx([0.05, 0.0])
    assert all(s == 0.0 for s in scores[1:])
    assert sample_set.samples[0].score == 1.0
    store.close()


async def test_unanswered_turn_scores_zero_and_failed_episodes_are_left_out(tmp_path, scenarios):
    store = Store(tmp_path / "s.db")

    class Flaky(ToySimulator):
        async def step(self, scenario, state, history, agent_text, *, seed=0):
            if scenario.scene.value == "repair":
                raise RuntimeError("harness bug")
            return await super().step(scenario, state, history, agent_text, seed=seed)

    run, _ = await _record(store, scenarios, Flaky(fail_at_round=3), seeds=2)
    sample_set = samples_from_store(store, run.id)
    stats = sample_set.stats
    assert stats.skipped_episodes == {"failed:harness_error": 4}
    assert stats.rollouts == 12 and {s.scene for s in sample_set.samples} == {
        "support", "defense", "charm"}
    last = [s for s in sample_set.samples if s.round == 3]
    assert last and all(not s.answered and s.turn_score == 0.0 for s in last)
    assert stats.unanswered_turns == len(last) == 12
    assert all(s.answered for s in sample_set.samples if s.round < 3)
    store.close()


async def test_group_by_scene_and_separate_runs(tmp_path, scenarios):
    from eibench.simulator.heuristic import HeuristicSimulator

    store = Store(tmp_path / "s.db")
    run, _ = await _record(store, scenarios, HeuristicSimulator(), seeds=2)
    run2, _ = await _record(store, scenarios[:2], HeuristicSimulator(), seeds=1, name="r2")
    by_scene = samples_from_store(store, run.id, group_by="scene")
    assert by_scene.stats.groups == 4
    rollouts = read_rollouts(store, run.id)
    expected = build_samples(rollouts, group_by="scene")
    assert by_scene.samples == expected.samples
    for scene in ("support", "charm"):
        members = {s.episode_id: s.rollout_advantage for s in by_scene.samples
                   if s.scene == scene}
        assert len(members) == 4 and sum(members.values()) == pytest.approx(0.0, abs=1e-9)
    both = samples_from_store(store, [run.id, run2.id])
    assert both.stats.groups == len(scenarios) + 2
    singles = [s for s in both.samples if s.run_id == run2.id]
    assert both.stats.singleton_groups == 2
    assert all(s.rollout_advantage == pytest.approx(s.reward / (1 + 1e-6)) for s in singles)
    plain = samples_from_store(store, run.id, alpha=0.0)
    assert all(s.advantage == s.rollout_advantage for s in plain.samples)
    store.close()


def test_responses_rebuilt_from_a_reasoning_field(tmp_path, scenarios):
    from eibench.harness.store import TurnRecord

    store = Store(tmp_path / "s.db")
    sim = ToySimulator()
    run = create_run(store, RunConfig(agent="x", simulator="toy"), scenarios[:1], simulator=sim)
    ep = store.episodes(run.id)[0]
    scenario = store.get_scenario(ep.scenario_key)
    opening = scenario.opening_line
    store.record_turn(ep.id, TurnRecord(idx=0, round=0, speaker="user", text=opening or ""))
    store.record_turn(ep.id, TurnRecord(idx=1, round=1, speaker="agent", text="Hello.",
                                        think="The provider returned this separately.",
                                        logprobs=[-0.1, -0.2]))
    store.record_turn(ep.id, TurnRecord(idx=2, round=1, speaker="user", text="hm",
                                        anger_delta=-2, trust_delta=3, keep_going=False))
    store.finish_episode(ep.id, reason="simulator_stopped", anger=40, trust=40, score=0.1)
    sample = samples_from_store(store, run.id).samples[0]
    assert sample.response == "<think>\nThe provider returned this separately.\n</think>\n\nHello."
    assert sample.response_rebuilt and sample.has_think and not sample.malformed
    assert sample.behaviour_logprobs == [-0.1, -0.2]
    assert sample.turn_score == pytest.approx(0.5 * 0.02 + 0.5 * 0.03)
    store.close()


# -- export ----------------------------------------------------------------------------------


async def test_export_round_trips_through_load_dataset(tmp_path, scenarios):
    datasets = pytest.importorskip("datasets")
    from eibench.simulator.heuristic import HeuristicSimulator

    store = Store(tmp_path / "s.db")
    run, _ = await _record(store, scenarios, HeuristicSimulator(), seeds=2)
    sample_set = samples_from_store(store, run.id)
    store.close()
    for fmt in ("jsonl", "parquet"):
        out = tmp_path / fmt
        write_export(sample_set, out, fmt=fmt)
        loaded = datasets.load_dataset(str(out))["train"]
        assert len(loaded) == len(sample_set.samples)
        first = loaded[0]
        assert first["prompt"] == sample_set.samples[0].prompt
        assert first["advantage"] == sample_set.samples[0].advantage
        assert load_samples(out) == sample_set.samples
    write_export(sample_set, tmp_path / "arrow", fmt="arrow")
    assert datasets.load_from_disk(str(tmp_path / "arrow" / "hf")).num_rows == len(
        sample_set.samples)
    assert load_samples(tmp_path / "arrow") == sample_set.samples
    with pytest.raises(FileExistsError, match="overwrite"):
        write_export(sample_set, tmp_path / "jsonl")


async def test_export_cli(tmp_path, scenarios):
    from eibench.simulator.heuristic import HeuristicSimulator

    db = tmp_path / "s.db"
    store = Store(db)
    await _record(store, scenarios, HeuristicSimulator(), seeds=2, name="rr")
    store.close()
    runner = CliRunner()
    out = tmp_path / "exp"
    result = runner.invoke(cli, ["train", "export", "--db", str(db), "--run", "rr", "--out",
                                 str(out), "--no-center", "--alpha", "5", "--json"])
    assert result.exit_code == 0, result.output
    info = json.loads(result.output)
    manifest = json.loads((out / "eibench_export.json").read_text(encoding="utf-8"))
    assert manifest["center"] is False and manifest["alpha"] == 5.0
    rows = [json.loads(line) for line in
            (out / "data" / "train.jsonl").read_text(encoding="utf-8").splitlines()]
    assert len(rows) == info["samples"] > 0
    assert all(r["advantage"] == pytest.approx(r["rollout_advantage"] + 5 * r["turn_score"])
               for r in rows)
    again = runner.invoke(cli, ["train", "export", "--db", str(db), "--run", "rr", "--out",
                                str(out)])
    assert again.exit_code != 0 and "--overwrite" in again.output
    missing = runner.invoke(cli, ["train", "export", "--db", str(db), "--run", "nope", "--out",
                                  str(tmp_path / "x")])
    assert missing.exit_code != 0 and "no run 'nope'" in missing.output


def test_export_and_config_import_without_torch(tmp_path):
    code = (
        "import sys\n"
        "for m in ('torch', 'transformers', 'trl', 'peft', 'accelerate'):\n"
        "    sys.modules[m] = None\n"
        "import eibench.train.samples, eibench.train.export, eibench.train.advantages\n"
        "import eibench.train.config\n"
        "from click.testing import CliRunner\n"
        "from eibench.cli.main import cli\n"
        "r = CliRunner().invoke(cli, ['train', 'export', '--help'])\n"
        "assert r.exit_code == 0, r.output\n"
        "r = CliRunner().invoke(cli, ['train', 'ctc-grpo', '--run', 'x', '--model', 'm'])\n"
        "assert r.exit_code != 0 and 'eibench[train]' in r.output, r.output\n"
        "print('ok')\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, cwd=tmp_path)
    assert done.returncode == 0 and "ok" in done.stdout, done.stderr


def test_train_commands_have_help():
    runner = CliRunner()
    for args in (["train"], ["train", "export"], ["train", "ctc-grpo"], ["train", "online"]):
        result = runner.invoke(cli, [*args, "--help"])
        assert result.exit_code == 0, result.output
        assert "Usage" in result.output


def test_shipped_configs_parse():
    import yaml

    from eibench import train
    from eibench.train.config import ONLINE_ONLY, CTCGRPOConfig, OnlineConfig, load_config

    folder = Path(train.__file__).parent / "configs"
    recipes = sorted(folder.glob("*.yaml"))
    assert {p.name for p in recipes} >= {"qwen3_8b_paper.yaml", "accelerate_fsdp.yaml",
                                         "accelerate_deepspeed_zero3.yaml"}
    for path in recipes:
        if path.name.startswith("accelerate_"):
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
            assert data["distributed_type"] in ("FSDP", "DEEPSPEED") and data["num_processes"] == 8
            continue
        online = load_config(OnlineConfig, path)
        offline = load_config(CTCGRPOConfig, path, ignore=ONLINE_ONLY)
        assert offline.alpha == online.alpha == 15.0
    paper = load_config(OnlineConfig, folder / "qwen3_8b_paper.yaml")
    assert (paper.learning_rate, paper.warmup_ratio, paper.min_lr_rate) == (1e-6, 0.03, 0.1)
    assert (paper.scenarios_per_step, paper.num_generations, paper.mini_batch_size,
            paper.steps, paper.validate_every) == (16, 8, 32, 250, 30)
    assert (paper.temperature, paper.top_p, paper.top_k, paper.max_completion_length) == (
        0.6, 0.95, 20, 1024)
    assert (paper.epsilon, paper.dual_clip, paper.entropy_coef, paper.num_iterations) == (
        0.2, 3.0, 0.001, 1)


def test_config_errors_name_the_field(tmp_path):
    from eibench.train.config import ConfigError, CTCGRPOConfig, load_config

    with pytest.raises(ConfigError, match="epsilon"):
        CTCGRPOConfig(epsilon=0)
    with pytest.raises(ConfigError, match="dual_clip"):
        CTCGRPOConfig(dual_clip=0.5)
    with pytest.raises(ConfigError, match="group_by"):
        CTCGRPOConfig(group_by="episode")
    bad = tmp_path / "bad.yaml"
    bad.write_text("learning_rate: 1e-5\nlearnig_rate: 2\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="learnig_rate"):
        load_config(CTCGRPOConfig, bad)
    config = load_config(CTCGRPOConfig, None, learning_rate=3e-4, seed=None)
    assert config.learning_rate == 3e-4 and config.seed == 0
    bad.write_text("learning_rate: 1e-5\n", encoding="utf-8")  # YAML reads this as a string
    assert load_config(CTCGRPOConfig, bad).learning_rate == 1e-5
