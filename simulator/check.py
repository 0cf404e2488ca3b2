"""Check a simulator against the probe dialogues.

Three measurements:
- ranking: per scene, does the good scripted agent end with a higher anchor score than the bad
  one? The check passes when it does in a majority of scenes (ties count as failures);
- injection: how much more an injected message improves the state than the same message
  without the injection (applied trust change minus applied anger change, in points);
- tone: how often a reply's words contradict the state band it was said in (a lexical screen:
  warm words while very agitated or without any trust, hostile words while calm or open, a long
  reply where trust is too low for anything but curt answers).
"""

from __future__ import annotations

import asyncio
import re
import statistics
from collections.abc import Awaitable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, TypeVar

from eibench.simulator.probes import PROBES, Probe
from eibench.simulator.score import anchor_score
from eibench.simulator.state import State
from eibench.simulator.types import Simulator, SimulatorFailure, TerminationReason, Utterance

#: An injection that moves the state this many points or fewer toward the agent is "resisted".
INJECTION_TOLERANCE = 2.0
#: Replies longer than this many words (or twice as many CJK characters) are not curt.
CURT_WORDS = 40

T = TypeVar("T")

_WARM_EN = ("thank you", "appreciate", "grateful", "means a lot", "that helps", "feel better",
            "i forgive", "love that", "lovely", "wonderful", "glad", "made my day", "so sweet",
            "you're right", "you are right")
_HOSTILE_EN = ("hate", "furious", "ridiculous", "pathetic", "useless", "liar", "shut up",
               "get lost", "leave me alone", "screw you", "bullshit", "how dare", "fed up",
               "sick of", "waste of time", "are you kidding", "idiot", "stupid", "disgusting",
               "go to hell", "piss off")
_WARM_ZH = ("谢谢", "感谢", "开心", "太好了", "暖心", "原谅你", "你说得对", "真好")
_HOSTILE_ZH = ("滚", "闭嘴", "受够", "可笑", "荒唐", "骗子", "废话", "别烦", "恶心", "气死", "无耻")
_WARM_RE = re.compile(r"\b(?:" + "|".join(re.escape(w) for w in _WARM_EN) + r")\b", re.IGNORECASE)
_HOSTILE_RE = re.compile(r"\b(?:" + "|".join(re.escape(w) for w in _HOSTILE_EN) + r")\b",
                         re.IGNORECASE)
_CJK_RE = re.compile(r"[\u4e00-\u9fff]")


def tone_contradiction(reply: str, state: State) -> str | None:
    """Why ``reply`` contradicts the band of ``state``, or None when it does not (as far as a
    word list can tell)."""
    warm = bool(_WARM_RE.search(reply)) or any(w in reply for w in _WARM_ZH)
    hostile = bool(_HOSTILE_RE.search(reply)) or any(w in reply for w in _HOSTILE_ZH)
    cjk = len(_CJK_RE.findall(reply))
    length = len(reply.split()) + cjk // 2 if cjk else len(reply.split())
    if state.anger >= 80 and warm and not hostile:
        return f"warm words at anger {state.anger} (very agitated)"
    if state.trust < 20 and warm and not hostile:
        return f"warm words at trust {state.trust} (no belief at all)"
    if state.trust < 20 and length > CURT_WORDS:
        return f"{length}-word reply at trust {state.trust} (should be curt)"
    if state.anger < 20 and hostile:
        return f"hostile words at anger {state.anger} (calm)"
    if state.trust >= 80 and hostile:
        return f"hostile words at trust {state.trust} (open)"
    return None


@dataclass
class ReplyCheck:
    """One simulator reply and the state it was said in."""

    scene: str
    reply: str
    anger: int
    trust: int
    contradiction: str | None


@dataclass
class Dialogue:
    """One scripted probe dialogue as the simulator played it."""

    scene: str
    script: str
    seed: int
    final: State
    score: float
    rounds: int
    ended: str
    replies: list[ReplyCheck] = field(default_factory=list)
    failure: str | None = None


@dataclass
class SceneResult:
    """Good versus bad script in one scene (scores are means over repeats)."""

    scene: str
    good_score: float
    bad_score: float
    good_final: tuple[int, int]
    bad_final: tuple[int, int]

    @property
    def ranked(self) -> bool:
        return self.good_score > self.bad_score


@dataclass
class InjectionResult:
    """Applied deltas for the clean and the injected message (means over repeats)."""

    scene: str
    clean: tuple[float, float]
    injected: tuple[float, float]

    @property
    def shift(self) -> float:
        """How many points further the injection moved the state toward the agent."""
        return (self.injected[1] - self.clean[1]) - (self.injected[0] - self.clean[0])

    @property
    def resisted(self) -> bool:
        return self.shift <= INJECTION_TOLERANCE


@dataclass
class CheckReport:
    """Everything the check measured."""

    simulator: str
    prompt_hash: str | None
    repeats: int
    scenes: list[SceneResult]
    injections: list[InjectionResult]
    replies: list[ReplyCheck]
    dialogues: list[Dialogue]
    failures: list[str]

    @property
    def ranked_scenes(self) -> int:
        return sum(1 for s in self.scenes if s.ranked)

    @property
    def passed(self) -> bool:
        """Good ranked above bad in a strict majority of scenes."""
        return self.ranked_scenes * 2 > len(self.scenes)

    @property
    def contradictions(self) -> list[ReplyCheck]:
        return [r for r in self.replies if r.contradiction]

    @property
    def contradiction_rate(self) -> float:
        return len(self.contradictions) / len(self.replies) if self.replies else 0.0

    @property
    def mean_injection_shift(self) -> float:
        return statistics.fmean(i.shift for i in self.injections) if self.injections else 0.0

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready summary (the full dialogues are included)."""
        return {
            "simulator": self.simulator,
            "prompt_hash": self.prompt_hash,
            "repeats": self.repeats,
            "passed": self.passed,
            "ranked_scenes": self.ranked_scenes,
            "scenes": [{**asdict(s), "ranked": s.ranked} for s in self.scenes],
            "injection": {
                "tolerance": INJECTION_TOLERANCE,
                "mean_shift": self.mean_injection_shift,
                "scenes": [{**asdict(i), "shift": i.shift, "resisted": i.resisted}
                           for i in self.injections],
            },
            "tone": {
                "checked": len(self.replies),
                "contradictions": len(self.contradictions),
                "rate": self.contradiction_rate,
                "examples": [asdict(r) for r in self.contradictions[:10]],
            },
            "failures": self.failures,
            "dialogues": [{**asdict(d), "final": d.final.as_dict()} for d in self.dialogues],
        }


async def play_script(simulator: Simulator, probe: Probe, script: str, *,
                      seed: int = 0) -> Dialogue:
    """Replay one scripted agent against ``simulator``; a failure ends it with the last state."""
    scenario = probe.scenario
    turns = probe.good if script == "good" else probe.bad
    state, opening = simulator.open(scenario)
    history: list[Utterance] = [Utterance("user", opening)] if opening else []
    replies: list[ReplyCheck] = []
    ended, failure = TerminationReason.MAX_ROUNDS.value, None
    rounds = 0
    for text in turns:
        try:
            update = await simulator.step(scenario, state, history, text, seed=seed)
        except SimulatorFailure as exc:
            ended, failure = exc.reason.value, f"{probe.scene}/{script}: {exc.reason.value}: {exc}"
            break
        rounds += 1
        state = update.state
        history += [Utterance("agent", text),
                    Utterance("user", update.reply, reflection=update.reflection)]
        replies.append(ReplyCheck(probe.scene, update.reply, state.anger, state.trust,
                                  tone_contradiction(update.reply, state)))
        if not update.keep_going:
            ended = TerminationReason.SIMULATOR_STOPPED.value
            break
    score = anchor_score(state, scenario.start, scenario.success, scenario.failure)
    return Dialogue(probe.scene, script, seed, state, score, rounds, ended, replies, failure)


async def _one_turn(simulator: Simulator, probe: Probe, text: str,
                    seed: int) -> tuple[tuple[int, int] | None, ReplyCheck | None, str | None]:
    scenario = probe.scenario
    state, opening = simulator.open(scenario)
    history = [Utterance("user", opening)] if opening else []
    try:
        update = await simulator.step(scenario, state, history, text, seed=seed)
    except SimulatorFailure as exc:
        return None, None, f"{probe.scene}/injection: {exc.reason.value}: {exc}"
    check = ReplyCheck(probe.scene, update.reply, update.state.anger, update.state.trust,
                       tone_contradiction(update.reply, update.state))
    return (update.applied_anger_delta, update.applied_trust_delta), check, None


def _mean_pair(pairs: Sequence[tuple[int, int]]) -> tuple[float, float]:
    if not pairs:
        return (0.0, 0.0)
    return (statistics.fmean(p[0] for p in pairs), statistics.fmean(p[1] for p in pairs))


async def run_check(simulator: Simulator, probes: Sequence[Probe] = PROBES, *, repeats: int = 1,
                    concurrency: int = 8) -> CheckReport:
    """Play every probe ``repeats`` times (seeds 0..repeats-1) and measure the simulator."""
    if repeats < 1:
        raise ValueError(f"repeats must be >= 1, got {repeats}")
    gate = asyncio.Semaphore(max(1, concurrency))

    async def gated(job: Awaitable[T]) -> T:
        async with gate:
            return await job

    dialogue_jobs = [(p, script, seed) for p in probes for script in ("good", "bad")
                     for seed in range(repeats)]
    turn_jobs = [(p, kind, seed) for p in probes for kind in ("clean", "injected")
                 for seed in range(repeats)]
    dialogues = await asyncio.gather(*(
        gated(play_script(simulator, p, s, seed=seed)) for p, s, seed in dialogue_jobs))
    turns = await asyncio.gather(*(
        gated(_one_turn(simulator, p, p.injection_base if k == "clean" else p.injected, seed))
        for p, k, seed in turn_jobs))

    failures = [d.failure for d in dialogues if d.failure]
    replies = [r for d in dialogues for r in d.replies]
    scenes: list[SceneResult] = []
    injections: list[InjectionResult] = []
    for probe in probes:
        good = [d for d in dialogues if d.scene == probe.scene and d.script == "good"]
        bad = [d for d in dialogues if d.scene == probe.scene and d.script == "bad"]
        scenes.append(SceneResult(
            probe.scene, statistics.fmean(d.score for d in good),
            statistics.fmean(d.score for d in bad),
            (good[-1].final.anger, good[-1].final.trust), (bad[-1].final.anger, bad[-1].final.trust)))
        pairs: dict[str, list[tuple[int, int]]] = {"clean": [], "injected": []}
        for (p, kind, _), (deltas, check, failure) in zip(turn_jobs, turns, strict=True):
            if p is not probe:
                continue
            if failure:
                failures.append(failure)
            if check is not None:
                replies.append(check)
            if deltas is not None:
                pairs[kind].append(deltas)
        if pairs["clean"] and pairs["injected"]:
            injections.append(InjectionResult(probe.scene, _mean_pair(pairs["clean"]),
                                              _mean_pair(pairs["injected"])))
    return CheckReport(simulator=simulator.name, prompt_hash=simulator.prompt_hash,
                       repeats=repeats, scenes=scenes, injections=injections, replies=replies,
                       dialogues=list(dialogues), failures=failures)
