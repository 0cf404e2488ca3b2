"""Run orchestration: plan episodes, run them concurrently, record everything, resume.

A run is created in the store with its full configuration, so ``resume`` can rebuild the agent and
simulator and finish whatever a crash or Ctrl-C left, continuing half-played dialogues from their
last recorded turn. Errors in one episode are recorded with their reason and never stop the run.
"""

from __future__ import annotations

import asyncio
import traceback
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from eibench.harness.agents import AGENT_PROMPT_VERSION, Agent
from eibench.harness.loop import DialogueResult, run_dialogue
from eibench.harness.store import EpisodeRow, RunRow, Store, TurnRecord
from eibench.scenarios.model import Scenario
from eibench.simulator.types import Simulator, SimulatorFailure, TerminationReason

RESUMABLE = ("pending", "running", "interrupted")
#: room for a five-step reflection plus the reply (Chinese and thinking models need it)
SIMULATOR_MAX_TOKENS = 2048


@dataclass
class RunConfig:
    """Everything needed to start (or rebuild, on resume) a run. Stored as the run's config."""

    agent: str
    simulator: str
    pack: str | None = None
    official: str | None = None
    split: str | None = "test"
    scene: str | None = None
    limit: int | None = None
    ids: list[str] | None = None
    seeds: int = 1
    seed: int = 0
    concurrency: int = 8
    agent_base_url: str | None = None
    simulator_base_url: str | None = None
    simulator_prompt: str | None = None
    temperature: float = 0.7
    top_p: float | None = None
    max_tokens: int = 1024
    simulator_temperature: float = 0.7
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunConfig:
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        return cls(**known)


@dataclass
class Progress:
    """Live counts for a progress display."""

    total: int = 0
    done: int = 0
    failed: int = 0
    score_sum: float = 0.0
    scored: int = 0

    @property
    def mean(self) -> float | None:
        return self.score_sum / self.scored if self.scored else None


class StoreRecorder:
    """Writes each turn of one episode to the store as it happens."""

    def __init__(self, store: Store, episode_id: int) -> None:
        self.store = store
        self.episode_id = episode_id

    def record(self, turn: TurnRecord) -> None:
        self.store.record_turn(self.episode_id, turn)


def plan(scenarios: Sequence[Scenario], seeds: int, base_seed: int) -> list[tuple[Scenario, int, int]]:
    """(scenario, repeat, seed) for every episode of a run."""
    return [(s, r, base_seed + r) for s in scenarios for r in range(seeds)]


def create_run(store: Store, config: RunConfig, scenarios: Sequence[Scenario], *,
               simulator: Simulator, name: str | None = None) -> RunRow:
    """Record a new run with its configuration and planned episodes."""
    source = f"official:{config.official}" if config.official else f"pack:{config.pack}"
    run = store.create_run(
        agent=config.agent, simulator=simulator.name, simulator_kind=simulator.kind, name=name,
        prompt_hash=simulator.prompt_hash, agent_prompt_version=AGENT_PROMPT_VERSION,
        agent_sampling={"temperature": config.temperature, "top_p": config.top_p,
                        "max_tokens": config.max_tokens},
        simulator_sampling={"temperature": config.simulator_temperature}, seed=config.seed,
        source=source, config=config.to_dict(), n_planned=len(scenarios) * config.seeds)
    store.ensure_episodes(run.id, plan(scenarios, config.seeds, config.seed))
    return run


def finish(store: Store, episode: EpisodeRow, result: DialogueResult) -> None:
    """Close an episode from a dialogue result: failures carry their reason and no score."""
    lost = result.unrecorded_usage
    if lost.input_tokens or lost.output_tokens or lost.cost_usd:
        store.add_usage(episode.id, input_tokens=lost.input_tokens,
                        output_tokens=lost.output_tokens, cost_usd=lost.cost_usd)
    store.finish_episode(
        episode.id, reason=result.reason.value, anger=result.state.anger,
        trust=result.state.trust, score=None if result.failed else result.score,
        error=result.error, status="failed" if result.failed else "finished")


async def play_episode(store: Store, episode: EpisodeRow, agent: Agent,
                       simulator: Simulator) -> DialogueResult | None:
    """Play (or continue) one episode; never raises except on cancellation."""
    scenario = store.get_scenario(episode.scenario_key)
    recorder = StoreRecorder(store, episode.id)
    store.start_episode(episode.id)
    try:
        result = await run_dialogue(scenario, agent, simulator, recorder, seed=episode.seed,
                                    resume_from=store.turns(episode.id))
    except asyncio.CancelledError:
        store.finish_episode(episode.id, reason="", anger=episode.anger or 0,
                             trust=episode.trust or 0, score=None, status="interrupted")
        raise
    except SimulatorFailure as exc:  # raised from open(): treat like any simulator failure
        store.finish_episode(episode.id, reason=exc.reason.value, anger=scenario.start.anger,
                             trust=scenario.start.trust, score=None, error=str(exc),
                             status="failed")
        return None
    except Exception:
        store.finish_episode(episode.id, reason=TerminationReason.HARNESS_ERROR.value,
                             anger=episode.anger or scenario.start.anger,
                             trust=episode.trust or scenario.start.trust, score=None,
                             error=traceback.format_exc(limit=8), status="failed")
        return None
    finish(store, episode, result)
    return result


async def execute(store: Store, run: RunRow, agent: Agent, simulator: Simulator, *,
                  concurrency: int = 8, retry_failed: bool = False,
                  on_progress: Callable[[Progress], None] | None = None) -> Progress:
    """Play every unfinished episode of ``run`` with at most ``concurrency`` at once."""
    statuses = RESUMABLE + (("failed",) if retry_failed else ())
    todo = store.episodes(run.id, status=statuses)
    progress = Progress(total=store.count_episodes(run.id))
    for ep in store.episodes(run.id, status=("finished", "failed")):
        if ep.status == "failed" and retry_failed:
            continue
        progress.done += 1
        progress.failed += ep.status == "failed"
        if ep.score is not None:
            progress.score_sum += ep.score
            progress.scored += 1
    if on_progress:
        on_progress(progress)
    gate = asyncio.Semaphore(max(1, concurrency))
    store.set_run_status(run.id, "running")

    async def one(ep: EpisodeRow) -> None:
        async with gate:
            result = await play_episode(store, ep, agent, simulator)
        progress.done += 1
        if result is None or result.failed:
            progress.failed += 1
        else:
            progress.score_sum += result.score
            progress.scored += 1
        if on_progress:
            on_progress(progress)

    try:
        await asyncio.gather(*(one(ep) for ep in todo))
    except asyncio.CancelledError:
        store.set_run_status(run.id, "interrupted")
        raise
    store.set_run_status(run.id, "finished")
    return progress


def build_components(config: RunConfig) -> tuple[Agent, Simulator]:
    """The agent and simulator a run's configuration names (used for new runs and resume)."""
    from eibench.harness.agents import make_agent
    from eibench.simulator.backends.base import Sampling
    from eibench.simulator.registry import make_simulator

    sampling = Sampling(temperature=config.temperature, top_p=config.top_p,
                        max_tokens=config.max_tokens)
    agent = make_agent(config.agent, base_url=config.agent_base_url, sampling=sampling,
                       concurrency=_backend_limit(config.agent, config.concurrency))
    if config.simulator == "heuristic":
        return agent, make_simulator("heuristic")
    simulator = make_simulator(config.simulator, base_url=config.simulator_base_url,
                               prompt_path=config.simulator_prompt,
                               sampling=Sampling(temperature=config.simulator_temperature,
                                                 max_tokens=SIMULATOR_MAX_TOKENS),
                               concurrency=_backend_limit(config.simulator, config.concurrency))
    return agent, simulator


def _backend_limit(spec: str, concurrency: int) -> int | None:
    """Let a remote backend keep up with the run's concurrency; local engines keep their own."""
    return None if spec.startswith("local:") else concurrency
