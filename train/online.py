"""The online CTC-GRPO loop: rollouts with the current policy, one update, repeat.

Each step draws ``scenarios_per_step`` training scenarios balanced across the four scenes, plays
``num_generations`` dialogues of each with the current policy against the simulator through the
harness (recorded in the store as the run ``<prefix>-stepNNNNN``), builds the CTC-GRPO samples of
that run, and makes one PPO pass over them. The learning-rate schedule ticks once per step (as in
verl, which the paper used). Every ``validate_every`` steps (and before the first and after the
last) the policy plays the held-out split once per scenario (run ``<prefix>-valNNNNN``); the mean
scores go to ``curve.jsonl`` and ``curve.png`` in the output folder.

Everything is resumable: a checkpoint is written after every ``save_steps`` steps, and a step whose
rollouts were half-played continues from the store. The loop runs in one process (CPU or one
GPU); for several GPUs, record rollouts with ``eibench run`` against a vLLM server and train each
step with ``accelerate launch eibench train ctc-grpo`` (see docs/training.md).
"""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from eibench.harness.agents import Agent
from eibench.harness.runner import RunConfig, create_run, execute
from eibench.harness.store import RunRow, Store, StoreError
from eibench.scenarios.loaders import load_scenarios
from eibench.scenarios.model import SCENES, Scenario
from eibench.simulator.backends.base import Sampling
from eibench.simulator.types import Simulator
from eibench.train.config import OnlineConfig
from eibench.train.samples import samples_from_store

__all__ = ["OnlineLoop", "balanced_draw", "plot_curve", "run_scores"]


def balanced_draw(scenarios: Sequence[Scenario], n: int, *, step: int, seed: int) -> list[Scenario]:
    """The scenarios of step ``step``: ``n`` drawn round-robin across scenes.

    Each scene's list is walked in a fresh random order every time it is exhausted (an epoch),
    so over many steps every scenario is used about equally; the draw depends only on
    ``(seed, step)``, so a resumed loop draws the same scenarios. A scenario is used at most once
    per step (small packs give fewer than ``n``).
    """
    by_scene: dict[str, list[Scenario]] = {}
    for s in scenarios:
        by_scene.setdefault(s.scene.value, []).append(s)
    scenes = [k for k in SCENES if k in by_scene]
    if not scenes:
        return []
    quota = {k: n // len(scenes) for k in scenes}
    for j in range(n % len(scenes)):
        quota[scenes[(step + j) % len(scenes)]] += 1
    picked: list[Scenario] = []
    for scene in scenes:
        items = by_scene[scene]
        start = step * quota[scene]
        seen: set[str] = set()
        for j in range(start, start + quota[scene]):
            epoch, pos = divmod(j, len(items))
            order = list(range(len(items)))
            random.Random(f"{seed}/{scene}/{epoch}").shuffle(order)
            choice = items[order[pos]]
            if choice.id not in seen:
                seen.add(choice.id)
                picked.append(choice)
    return picked


def run_scores(store: Store, run_id: str) -> dict[str, Any]:
    """Mean score overall (over scenarios) and per scene of a run's finished episodes."""
    episodes = store.episodes(run_id)
    finished = [e for e in episodes if e.status == "finished" and e.score is not None]
    per_scene: dict[str, list[float]] = {}
    for e in finished:
        per_scene.setdefault(e.scene, []).append(float(e.score or 0.0))
    scores = [float(e.score or 0.0) for e in finished]
    return {
        "mean_score": sum(scores) / len(scores) if scores else None,
        "per_scene": {k: sum(v) / len(v) for k, v in sorted(per_scene.items())},
        "episodes": len(episodes), "finished": len(finished),
        "failed": sum(1 for e in episodes if e.status == "failed"),
    }


def plot_curve(curve_path: str | Path, png_path: str | Path) -> Path | None:
    """Plot ``curve.jsonl`` (validation mean score x 100 against step) to a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [json.loads(line) for line in Path(curve_path).read_text(encoding="utf-8").splitlines()
            if line.strip()]
    rows = [r for r in rows if r.get("mean_score") is not None]
    if not rows:
        return None
    fig, ax = plt.subplots(figsize=(6, 3.5))
    steps = [r["step"] for r in rows]
    ax.plot(steps, [100 * r["mean_score"] for r in rows], marker="o", label="overall", lw=2)
    for scene in SCENES:
        values = [(r["step"], 100 * r["per_scene"][scene]) for r in rows
                  if scene in r.get("per_scene", {})]
        if values:
            ax.plot([v[0] for v in values], [v[1] for v in values], lw=1, alpha=0.7, label=scene)
    ax.axhline(0, color="grey", lw=0.5)
    ax.set_xlabel("training step")
    ax.set_ylabel("held-out score (x100)")
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(png_path, dpi=120)
    plt.close(fig)
    return Path(png_path)


class OnlineLoop:
    """Rollouts and updates, alternating; see the module docstring.

    Args:
        config: the loop's configuration.
        trainer: an already built trainer (tests); built from the config when omitted.
        simulator: the simulated user (default: made from ``config.simulator``).
        resume: a checkpoint folder, ``latest``, or None for a fresh start.
    """

    def __init__(self, config: OnlineConfig, *, trainer: Any = None,
                 simulator: Simulator | None = None, resume: str | Path | None = None) -> None:
        from eibench.train.trainer import CTCGRPOTrainer, latest_checkpoint

        self.config = config
        self.out = Path(config.output_dir)
        self.prefix = config.run_prefix or self.out.name
        if resume == "latest":
            resume = latest_checkpoint(self.out)
        self.resume = Path(resume) if resume else None
        self.trainer = trainer or CTCGRPOTrainer(config, resume_from=self.resume)
        if self.trainer.accelerator.num_processes > 1:
            raise RuntimeError("the online loop runs in one process; for several GPUs see "
                               "docs/training.md (vLLM server + accelerate launch per step)")
        self.simulator = simulator or self._make_simulator()
        self.train_scenarios = load_scenarios(pack=config.pack, official=config.official,
                                              split=config.train_split)
        if not self.train_scenarios:
            raise ValueError(f"no scenarios in the {config.train_split!r} split of "
                             f"{config.official or config.pack or 'the starter pack'}")
        self.val_scenarios = (load_scenarios(pack=config.pack, official=config.official,
                                             split=config.validation_split,
                                             limit=config.validation_limit, balanced=True)
                              if config.validate_every else [])
        self.store = Store(config.db)
        self.curve = self.out / "curve.jsonl"
        self.rollout: Any = None
        self.agent = self._make_agent(config.temperature)

    # -- components --------------------------------------------------------------------------------

    def _make_simulator(self) -> Simulator:
        from eibench.simulator.registry import make_simulator
        from eibench.train.rollout import RoundCap

        c = self.config
        if c.simulator == "heuristic":
            sim = make_simulator("heuristic")
        else:
            sim = make_simulator(c.simulator, base_url=c.simulator_base_url)
        return RoundCap(sim, c.max_rounds) if c.max_rounds else sim

    def _sampling(self, temperature: float) -> Sampling:
        c = self.config
        return Sampling(temperature=temperature, top_p=c.top_p, top_k=c.top_k,
                        max_tokens=c.max_completion_length)

    def _make_agent(self, temperature: float) -> Agent:
        c = self.config
        name = Path(c.model_name_or_path).name or c.model_name_or_path
        if c.rollout_backend == "vllm":
            from eibench.train.rollout import VLLMRollout

            if self.rollout is None:
                self.rollout = VLLMRollout(
                    c.model_name_or_path, lora_rank=c.lora_r if c.use_peft else None,
                    sampling=self._sampling(temperature), workdir=self.out / "rollout-weights",
                    engine_options=c.vllm_options, chat_template_kwargs=c.chat_template_kwargs)
                if self.resume is not None:
                    self.rollout.update(self.trainer, self.trainer.state.step)
            agent: Agent = self.rollout.agent
            if temperature != c.temperature:
                from eibench.harness.agents import LLMAgent

                agent = LLMAgent(self.rollout.backend, sampling=self._sampling(temperature),
                                 name=agent.name)
            return agent
        from eibench.train.rollout import transformers_agent

        return transformers_agent(lambda: self.trainer.unwrapped, self.trainer.tokenizer,
                                  sampling=self._sampling(temperature), name=name,
                                  chat_template_kwargs=c.chat_template_kwargs,
                                  max_batch=c.rollout_concurrency)

    # -- one phase ---------------------------------------------------------------------------------

    def _play(self, name: str, scenarios: Sequence[Scenario], *, seeds: int, seed: int,
              agent: Agent, split: str, temperature: float) -> RunRow:
        c = self.config
        try:
            run = self.store.get_run(name)
        except StoreError:
            run_config = RunConfig(
                agent=f"policy:{c.model_name_or_path}", simulator=self.simulator.name,
                pack=c.pack, official=c.official, split=split, ids=[s.id for s in scenarios],
                seeds=seeds, seed=seed, concurrency=c.rollout_concurrency,
                temperature=temperature, top_p=c.top_p, max_tokens=c.max_completion_length,
                extra={"online": {"output_dir": str(self.out), "step": self.trainer.state.step,
                                  "top_k": c.top_k}})
            run = create_run(self.store, run_config, scenarios, simulator=self.simulator,
                             name=name)
        if run.status != "finished":
            asyncio.run(execute(self.store, run, agent, self.simulator,
                                concurrency=c.rollout_concurrency))
        return run

    def validate(self, step: int) -> dict[str, Any]:
        """Play the held-out scenarios once each and append the result to the curve."""
        c = self.config
        temperature = c.validation_temperature or c.temperature
        agent = self.agent if temperature == c.temperature else self._make_agent(temperature)
        run = self._play(f"{self.prefix}-val{step:05d}", self.val_scenarios,
                         seeds=c.validation_seeds, seed=c.seed, agent=agent,
                         split=c.validation_split,
                         temperature=temperature)
        result = {"step": step, "run": run.id, **run_scores(self.store, run.id)}
        with self.curve.open("a", encoding="utf-8") as fh:
            fh.write(json.dumps(result) + "\n")
        plot_curve(self.curve, self.out / "curve.png")
        self.trainer.logger.log({"val_mean_score": result["mean_score"],
                                 **{f"val_{k}": v for k, v in result["per_scene"].items()}},
                                step=self.trainer.state.updates, kind="validation")
        return result

    def _validated(self) -> set[int]:
        if not self.curve.exists():
            return set()
        return {json.loads(line)["step"] for line in
                self.curve.read_text(encoding="utf-8").splitlines() if line.strip()}

    def step(self, step: int) -> dict[str, Any]:
        """Rollouts for step ``step`` (0-based), then one update."""
        c = self.config
        trainer = self.trainer
        scenarios = balanced_draw(self.train_scenarios, c.scenarios_per_step, step=step,
                                  seed=c.seed)
        run = self._play(f"{self.prefix}-step{step:05d}", scenarios, seeds=c.num_generations,
                         seed=c.seed + step * c.num_generations, agent=self.agent,
                         split=c.train_split, temperature=c.temperature)
        sample_set = samples_from_store(self.store, run.id, alpha=c.alpha, center=c.center,
                                        group_by="scene" if c.group_by == "scene" else "scenario")
        encoded, stats = trainer.encode(sample_set.samples)
        summary: dict[str, Any] = {}
        if encoded:
            summary = trainer.train_on(encoded, shuffle_seed=c.seed + step)
        trainer.tick()
        trainer.state.step = step + 1
        if self.rollout is not None:
            self.rollout.update(trainer, step + 1)
        record = {
            "rollout_step": step, "run": run.id, "scenarios": len(scenarios),
            "mean_score": sample_set.stats.mean_score, "mean_reward": sample_set.stats.mean_reward,
            "rollouts": sample_set.stats.rollouts, "samples": len(encoded),
            "unanswered_turns": sample_set.stats.unanswered_turns,
            "truncated": stats.truncated, "lr_next": trainer.lr, **summary,
        }
        trainer.logger.log(record, step=trainer.state.updates, kind="step")
        return record

    def run(self) -> Path:
        """Run (or resume) the loop to ``config.steps`` steps; returns the final model folder."""
        c = self.config
        trainer = self.trainer
        trainer.setup_schedule(c.steps)
        if self.resume is not None:
            trainer.load_checkpoint(self.resume)
        validated = self._validated()
        start = trainer.state.step
        if c.validate_every and start == 0 and 0 not in validated:
            self.validate(0)
        for step in range(start, c.steps):
            self.step(step)
            done = step + 1
            if c.validate_every and (done % c.validate_every == 0 or done == c.steps) \
                    and done not in validated:
                self.validate(done)
            if c.save_steps and done % c.save_steps == 0 and done < c.steps:
                trainer.save_checkpoint({"mode": "online"})
        trainer.save_checkpoint({"mode": "online", "done": True})
        final = trainer.save_model(self.out / "final")
        trainer.close()
        self.store.close()
        return final
