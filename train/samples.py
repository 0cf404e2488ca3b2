"""Recorded trajectories -> CTC-GRPO training samples. No torch: usable for export alone.

A *rollout* is one finished episode of a run. Rollouts of the same scenario in the same run form a
group (``group_by="scene"``, an ablation, groups every rollout of one scene type in a run). Each
agent turn becomes one sample:

* ``prompt``: the exact messages the agent saw, rebuilt with
  :func:`eibench.harness.agents.build_agent_messages` from the dialogue before the turn (earlier
  think blocks are not part of it);
* ``response``: the turn's full output, think block included, as the model produced it;
* ``advantage``: the centred turn credit ``A_it`` of :mod:`eibench.train.advantages`;
* ``behaviour_logprobs``: the sampling policy's per-token log-probabilities when the backend
  recorded them.

Which episodes count: only ``finished`` episodes (they have a score). Failed episodes (agent or
simulator errors, harness bugs) and unfinished ones are left out of their group and counted in
:class:`SampleStats`. An episode that ended because the simulator's output could not be parsed is
finished with its last good state; its last agent turn was never answered and gets the turn score
0 (its deltas are unknown), which :class:`SampleStats` counts as ``unanswered_turns``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from eibench.harness.agents import build_agent_messages
from eibench.harness.store import EpisodeRow, Store, TurnRow
from eibench.harness.think import SplitOutput, split_think
from eibench.scenarios.model import Scenario
from eibench.simulator.types import Utterance
from eibench.train.advantages import (
    ALPHA,
    group_advantages,
    outcome_reward,
    turn_credit,
    turn_score,
)

__all__ = [
    "GroupBy",
    "Rollout",
    "Sample",
    "SampleSet",
    "SampleStats",
    "TurnFacts",
    "agent_output",
    "build_samples",
    "read_rollouts",
    "rollout_from_turns",
    "samples_from_store",
]

GroupBy = Literal["scenario", "scene"]
GROUP_BY: tuple[str, ...] = ("scenario", "scene")

_TAG = re.compile(r"</?think(?:ing)?>", re.IGNORECASE)


@dataclass(frozen=True)
class TurnFacts:
    """One agent turn of a rollout, with what the reward needs to know about it.

    Attributes:
        idx: the turn's index in the episode (all speakers).
        round: the dialogue round (1-based).
        prompt: the messages the agent saw.
        response: the full output (think block + spoken words).
        response_rebuilt: the stored output had no think tags but a separate think (a provider's
            reasoning field), so ``response`` was rebuilt as ``<think>...</think>`` + words.
        has_think / missing_think / malformed: format facts from ``split_think``.
        anger_delta / trust_delta: the deltas applied by the user turn that answered this one;
            None when no user turn answered it.
        logprobs: the behaviour policy's per-token log-probabilities, when recorded.
    """

    idx: int
    round: int
    prompt: list[dict[str, str]]
    response: str
    response_rebuilt: bool
    has_think: bool
    missing_think: bool
    malformed: bool
    anger_delta: int | None
    trust_delta: int | None
    logprobs: list[float] | None = None

    @property
    def answered(self) -> bool:
        return self.anger_delta is not None and self.trust_delta is not None

    @property
    def score(self) -> float:
        """The turn score ``r_t`` (0 when unanswered)."""
        return turn_score(self.anger_delta, self.trust_delta)


@dataclass(frozen=True)
class Rollout:
    """One finished episode as a training rollout."""

    run_id: str
    episode_id: int
    scenario: Scenario
    scenario_key: str
    seed: int
    score: float
    termination_reason: str | None
    turns: tuple[TurnFacts, ...]

    @property
    def scene(self) -> str:
        return self.scenario.scene.value

    @property
    def reward(self) -> float:
        """The outcome reward R (score minus format penalties, clipped to [-1, 1])."""
        return outcome_reward(self.score, n_turns=len(self.turns),
                              n_missing_think=sum(t.missing_think for t in self.turns),
                              any_malformed=any(t.malformed for t in self.turns))

    def group_key(self, group_by: GroupBy) -> str:
        if group_by == "scene":
            return f"{self.run_id}/{self.scene}"
        return f"{self.run_id}/{self.scenario.id}@{self.scenario_key[:8]}"


@dataclass(frozen=True)
class Sample:
    """One training sample: an agent turn with its advantage and provenance."""

    prompt: list[dict[str, str]]
    response: str
    advantage: float
    behaviour_logprobs: list[float] | None
    run_id: str
    episode_id: int
    scenario_id: str
    scenario_key: str
    scene: str
    group: str
    round: int
    turn_idx: int
    score: float
    reward: float
    rollout_advantage: float
    turn_score: float
    answered: bool
    has_think: bool
    malformed: bool
    response_rebuilt: bool = False

    def to_record(self) -> dict[str, Any]:
        """A flat JSON-able dict (the export row)."""
        return asdict(self)

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> Sample:
        """Rebuild a sample from :meth:`to_record` output (unknown keys are refused)."""
        names = set(cls.__dataclass_fields__)
        unknown = sorted(set(record) - names)
        if unknown:
            raise ValueError(f"unknown sample field(s): {', '.join(unknown)}")
        data = dict(record)
        data["prompt"] = [dict(m) for m in data["prompt"]]
        lp = data.get("behaviour_logprobs")
        data["behaviour_logprobs"] = None if lp is None else [float(x) for x in lp]
        return cls(**data)


@dataclass
class SampleStats:
    """What went into a sample set, and what was left out and why."""

    runs: list[str] = field(default_factory=list)
    rollouts: int = 0
    groups: int = 0
    singleton_groups: int = 0
    samples: int = 0
    unanswered_turns: int = 0
    rebuilt_responses: int = 0
    with_logprobs: int = 0
    skipped_episodes: dict[str, int] = field(default_factory=dict)
    mean_reward: float | None = None
    mean_score: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class SampleSet:
    """Samples and the statistics of how they were built."""

    samples: list[Sample]
    stats: SampleStats
    alpha: float
    center: bool
    group_by: GroupBy


def agent_output(turn: TurnRow) -> tuple[str, SplitOutput, bool]:
    """The full output of a stored agent turn, its format facts, and whether it was rebuilt.

    The store keeps ``raw`` only when it differs from the spoken text. When the output carries no
    think tags but a separate ``think`` was recorded (a provider's reasoning field), the facts come
    from ``split_think(output, reasoning=think)`` and the response is rebuilt in the
    ``<think>...</think>`` layout the agent was asked for.
    """
    output = turn.raw or turn.text
    if _TAG.search(output) or not turn.think.strip():
        return output, split_think(output), False
    split = split_think(output, turn.think)
    return f"<think>\n{turn.think.strip()}\n</think>\n\n{output}", split, True


def rollout_from_turns(scenario: Scenario, episode: EpisodeRow, turns: Sequence[TurnRow], *,
                       scenario_key: str = "") -> Rollout:
    """Build a rollout from an episode's stored turns (in index order).

    Raises:
        ValueError: when the episode has no score.
    """
    if episode.score is None:
        raise ValueError(f"episode {episode.id} has no score (status {episode.status})")
    ordered = sorted(turns, key=lambda t: t.idx)
    history: list[Utterance] = []
    facts: list[TurnFacts] = []
    for pos, turn in enumerate(ordered):
        if turn.speaker == "agent":
            answer = ordered[pos + 1] if pos + 1 < len(ordered) else None
            answered = answer is not None and answer.speaker == "user"
            response, split, rebuilt = agent_output(turn)
            facts.append(TurnFacts(
                idx=turn.idx, round=turn.round,
                prompt=[{"role": m["role"], "content": m["content"]}
                        for m in build_agent_messages(scenario, history)],
                response=response, response_rebuilt=rebuilt, has_think=split.has_think,
                missing_think=not split.has_think or not split.think.strip(),
                malformed=split.malformed,
                anger_delta=answer.anger_delta if answered and answer else None,
                trust_delta=answer.trust_delta if answered and answer else None,
                logprobs=list(turn.logprobs) if turn.logprobs else None))
            history.append(Utterance("agent", turn.text, think=turn.think))
        else:
            history.append(Utterance("user", turn.text, reflection=turn.reflection))
    return Rollout(run_id=episode.run_id, episode_id=episode.id, scenario=scenario,
                   scenario_key=scenario_key or episode.scenario_key, seed=episode.seed,
                   score=float(episode.score), termination_reason=episode.termination_reason,
                   turns=tuple(facts))


def read_rollouts(store: Store, run_ref: str,
                  stats: SampleStats | None = None) -> list[Rollout]:
    """Every finished episode of a run as a rollout; the rest are counted in ``stats``."""
    run = store.get_run(run_ref)
    turns_by_episode = store.turns_for_run(run.id)
    scenarios: dict[str, Scenario] = {}
    rollouts: list[Rollout] = []
    for episode in store.episodes(run.id):
        if episode.status != "finished" or episode.score is None:
            if stats is not None:
                reason = episode.termination_reason or episode.status
                key = f"{episode.status}:{reason}" if reason != episode.status else reason
                stats.skipped_episodes[key] = stats.skipped_episodes.get(key, 0) + 1
            continue
        if episode.scenario_key not in scenarios:
            scenarios[episode.scenario_key] = store.get_scenario(episode.scenario_key)
        rollouts.append(rollout_from_turns(scenarios[episode.scenario_key], episode,
                                           turns_by_episode.get(episode.id, [])))
    if stats is not None:
        stats.runs.append(run.id)
    return rollouts


def build_samples(rollouts: Iterable[Rollout], *, alpha: float = ALPHA, center: bool = True,
                  group_by: GroupBy = "scenario",
                  stats: SampleStats | None = None) -> SampleSet:
    """Group rollouts, compute advantages and turn credit, and emit one sample per agent turn.

    Raises:
        ValueError: on an unknown ``group_by``.
    """
    if group_by not in GROUP_BY:
        raise ValueError(f"group_by must be one of {', '.join(GROUP_BY)}, got {group_by!r}")
    stats = stats if stats is not None else SampleStats()
    groups: dict[str, list[Rollout]] = {}
    for rollout in rollouts:
        groups.setdefault(rollout.group_key(group_by), []).append(rollout)
    samples: list[Sample] = []
    rewards_all: list[float] = []
    scores_all: list[float] = []
    for key, members in groups.items():
        rewards = [r.reward for r in members]
        rewards_all.extend(rewards)
        scores_all.extend(r.score for r in members)
        for rollout, reward, adv in zip(members, rewards, group_advantages(rewards), strict=True):
            scores = [t.score for t in rollout.turns]
            credits = turn_credit(adv, scores, alpha=alpha, center=center)
            for turn, r_t, a_t in zip(rollout.turns, scores, credits, strict=True):
                stats.unanswered_turns += not turn.answered
                stats.rebuilt_responses += turn.response_rebuilt
                stats.with_logprobs += turn.logprobs is not None
                samples.append(Sample(
                    prompt=turn.prompt, response=turn.response, advantage=a_t,
                    behaviour_logprobs=turn.logprobs, run_id=rollout.run_id,
                    episode_id=rollout.episode_id, scenario_id=rollout.scenario.id,
                    scenario_key=rollout.scenario_key, scene=rollout.scene, group=key,
                    round=turn.round, turn_idx=turn.idx, score=rollout.score, reward=reward,
                    rollout_advantage=adv, turn_score=r_t, answered=turn.answered,
                    has_think=turn.has_think, malformed=turn.malformed,
                    response_rebuilt=turn.response_rebuilt))
    stats.rollouts += len(rewards_all)
    stats.groups += len(groups)
    stats.singleton_groups += sum(1 for m in groups.values() if len(m) == 1)
    stats.samples += len(samples)
    if rewards_all:
        stats.mean_reward = sum(rewards_all) / len(rewards_all)
        stats.mean_score = sum(scores_all) / len(scores_all)
    return SampleSet(samples=samples, stats=stats, alpha=alpha, center=center, group_by=group_by)


def samples_from_store(store: Store, runs: str | Sequence[str], *, alpha: float = ALPHA,
                       center: bool = True, group_by: GroupBy = "scenario") -> SampleSet:
    """Read one or more runs and build their samples (groups never span runs)."""
    refs = [runs] if isinstance(runs, str) else list(runs)
    if not refs:
        raise ValueError("name at least one run")
    stats = SampleStats()
    rollouts: list[Rollout] = []
    for ref in refs:
        rollouts.extend(read_rollouts(store, ref, stats))
    return build_samples(rollouts, alpha=alpha, center=center, group_by=group_by, stats=stats)
