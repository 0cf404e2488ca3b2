"""Rollout plumbing of the online loop that needs no model: vLLM adapter swap, round cap, draws."""

from __future__ import annotations

from types import SimpleNamespace
from typing import ClassVar

import pytest

from eibench.harness.runner import RunConfig, create_run, execute
from eibench.harness.store import Store
from eibench.scenarios import read_pack
from eibench.simulator.backends.base import Sampling
from eibench.train.online import balanced_draw
from eibench.train.rollout import RoundCap, VLLMRollout

from toys import ToySimulator


class FakeLLM:
    """vLLM's ``LLM`` as far as the rollout uses it: ``chat`` over a batch of conversations."""

    built: ClassVar[list[dict]] = []

    def __init__(self, model, **options):
        self.model = model
        self.options = options
        self.calls: list[dict] = []
        FakeLLM.built.append({"model": model, **options})

    def chat(self, conversations, sampling_params, use_tqdm=False, **kwargs):
        self.calls.append({"n": len(conversations), **kwargs})
        return [SimpleNamespace(
            outputs=[SimpleNamespace(text="<think>ok</think>Tell me more.", token_ids=[1, 2, 3],
                                     logprobs=[{1: SimpleNamespace(logprob=-0.5)},
                                               {2: SimpleNamespace(logprob=-0.25)},
                                               {3: SimpleNamespace(logprob=-0.125)}])],
            prompt_token_ids=[0] * 10) for _ in conversations]


class SavingTrainer:
    def __init__(self):
        self.saved = []

    def save_model(self, path):
        path.mkdir(parents=True, exist_ok=True)
        self.saved.append(path)
        return path


@pytest.fixture
def scenarios():
    return read_pack("starter", split="train").scenarios


async def test_vllm_rollout_swaps_the_lora_adapter_and_records_logprobs(tmp_path, scenarios):
    rollout = VLLMRollout("base-model", lora_rank=16, sampling=Sampling(temperature=0.6),
                          workdir=tmp_path / "w", engine_options={"gpu_memory_utilization": 0.4},
                          chat_template_kwargs={"enable_thinking": True}, engine_factory=FakeLLM,
                          params_factory=lambda sampling, schema, logprobs: sampling)
    engine = rollout.backend.engine
    assert engine.options == {"gpu_memory_utilization": 0.4, "enable_lora": True,
                              "max_lora_rank": 16}
    store = Store(tmp_path / "s.db")
    sim = ToySimulator()
    run = create_run(store, RunConfig(agent="policy", simulator="toy", seeds=2), scenarios[:2],
                     simulator=sim)
    await execute(store, run, rollout.agent, sim, concurrency=4)
    assert "lora_request" not in engine.calls[0]
    assert engine.calls[0]["chat_template_kwargs"] == {"enable_thinking": True}
    assert max(c["n"] for c in engine.calls) > 1  # concurrent turns were batched
    turns = [t for ts in store.turns_for_run(run.id).values() for t in ts if t.speaker == "agent"]
    assert turns and all(t.logprobs == [-0.5, -0.25, -0.125] for t in turns)

    trainer = SavingTrainer()
    rollout.update(trainer, 3)
    request = rollout.backend.chat_options["lora_request"]
    assert request.lora_int_id == 4 and request.lora_path.endswith("adapter-step00003")
    await rollout.agent.reply(scenarios[0], [])
    assert engine.calls[-1]["lora_request"] is request
    store.close()


def test_vllm_rollout_full_weights_rebuild_the_engine(tmp_path):
    FakeLLM.built.clear()
    rollout = VLLMRollout("base-model", lora_rank=None, sampling=Sampling(),
                          workdir=tmp_path / "w", engine_factory=FakeLLM,
                          params_factory=lambda sampling, schema, logprobs: sampling)
    first = rollout.backend.engine
    rollout.update(SavingTrainer(), 1)
    assert rollout.backend.engine is not first
    assert [b["model"] for b in FakeLLM.built] == ["base-model", str(tmp_path / "w" / "weights")]
    assert "enable_lora" not in FakeLLM.built[0]


async def test_round_cap_stops_dialogues(tmp_path, scenarios):
    store = Store(tmp_path / "s.db")
    sim = RoundCap(ToySimulator(), 3)
    assert sim.name == "toy (max 3 rounds)"

    class Agent:
        name = "a"

        async def reply(self, scenario, history, *, seed=0):
            from eibench.harness.agents import AgentTurn
            return AgentTurn(text="I will call you at ten.", think="x", raw="<think>x</think>"
                             "I will call you at ten.", has_think=True)

    run = create_run(store, RunConfig(agent="a", simulator="toy"), scenarios, simulator=sim)
    await execute(store, run, Agent(), sim)
    episodes = store.episodes(run.id)
    assert all(e.rounds == 3 and e.termination_reason == "simulator_stopped" for e in episodes)
    last = [ts[-1] for ts in store.turns_for_run(run.id).values()]
    assert all(t.stop_reason == "round cap (3)" for t in last)
    store.close()


def test_balanced_draw_covers_scenes_and_repeats_deterministically(scenarios):
    en = read_pack("en", split="test").scenarios
    draws = [balanced_draw(en, 16, step=k, seed=1) for k in range(6)]
    for draw in draws:
        assert len(draw) == 16 and len({s.id for s in draw}) == 16
        scenes = [s.scene.value for s in draw]
        assert all(scenes.count(x) == 4 for x in ("support", "defense", "repair", "charm"))
    assert balanced_draw(en, 16, step=3, seed=1) == draws[3]
    assert balanced_draw(en, 16, step=3, seed=2) != draws[3]
    # an epoch walks the whole scene before repeating
    charm = [s for s in en if s.scene.value == "charm"]
    steps_per_epoch = len(charm) // 4
    seen = [s.id for k in range(steps_per_epoch)
            for s in balanced_draw(en, 16, step=k, seed=1) if s.scene.value == "charm"]
    assert len(set(seen)) == len(seen) == steps_per_epoch * 4
    small = balanced_draw(scenarios, 16, step=0, seed=0)
    assert len(small) == 8 and len({s.id for s in small}) == 8
    odd = balanced_draw(en, 6, step=0, seed=0)
    assert len(odd) == 6 and len({s.scene for s in odd}) == 4
