"""The offline heuristic simulator: the rubric as deterministic Python, no model.

It plays the simulated user for demos, CI and quick checks. Reports label it as heuristic; its
scores are a rough, reproducible stand-in for an LLM simulator, not a substitute for one.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from eibench.simulator.heuristic.features import normalise_language, situation_tokens
from eibench.simulator.heuristic.replies import Dice, compose_reply, extract_persona
from eibench.simulator.heuristic.rules import (
    CURT_TRUST,
    NEEDS,
    Signal,
    Verdict,
    band_name,
    judge,
    state_band,
)
from eibench.simulator.state import State
from eibench.simulator.types import SimulatorFailure, TerminationReason, Update, Utterance

if TYPE_CHECKING:
    from eibench.scenarios.model import Scenario

ANGER_TONE = ("calm", "easing", "upset but talking", "clearly unhappy and pressing",
              "very agitated")
TRUST_TONE = ("no belief at all", "half-believing, wants facts", "wait-and-see",
              "starting to believe", "open")


def _signals(signals: Sequence[Signal], sign: str) -> str:
    parts = []
    for s in signals:
        a = f"{-s.anger if sign == 'good' else s.anger:+g}"
        t = f"{s.trust if sign == 'good' else -s.trust:+g}"
        extra = ", scene trigger" if s.trigger else ""
        note = f", {s.note}" if s.note else ""
        parts.append(f"{s.key} (anger {a}, trust {t}{extra}{note})")
    return "; ".join(parts)


def reflect(verdict: Verdict, *, scene: str, user_name: str | None) -> str:
    """The private reflection: a five-step account of what fired and why the state moved.

    Written in English whatever the scenario's language: it is a trace for whoever reads the
    transcript, naming the rubric's signals as they appear in the code.
    """
    who = user_name or "The user"
    ctx = verdict.context
    if verdict.good or verdict.bad:
        quality = " / ".join(x for x in (
            f"good: {_signals(verdict.good, 'good')}" if verdict.good else "",
            f"faults: {_signals(verdict.bad, 'bad')}" if verdict.bad else "") if x)
    else:
        quality = "nothing that helps or hurts"
    new = ("something new" if ctx.novelty >= 0.5
           else "partly new" if ctx.novelty >= 0.3 else "little new")
    improving = band_name(verdict.improvement, improving=True)
    worsening = band_name(max(verdict.worsening_anger, verdict.worsening_trust), improving=False)
    notes = "; ".join(verdict.notes)
    after = verdict.after
    tone = f"{ANGER_TONE[state_band(after.anger)]}, {TRUST_TONE[state_band(after.trust)]}"
    if after.trust < CURT_TRUST:
        tone += ", curt"
    ending = f"stop: {verdict.stop_reason}" if not verdict.keep_going else "continue"
    return (f"1. Needs: {who} needs {NEEDS[scene]}. "
            f"2. Reply: {quality}. "
            f"3. New: {new} (novelty {ctx.novelty:.2f}, echo {ctx.echo:.2f}, "
            f"repeat {ctx.repeat:.2f}, about the situation {ctx.specific}). "
            f"4. Deltas: anger {verdict.anger_delta:+d}, trust {verdict.trust_delta:+d} "
            f"(improvement {improving}, worsening {worsening}, good streak {verdict.streak}"
            f"{'; ' + notes if notes else ''}). "
            f"5. Tone: {tone}; {ending}.")


class HeuristicSimulator:
    """A simulated user that scores each agent turn with an executable rubric.

    Deterministic: the deltas depend only on the scenario, the state and the dialogue; the
    choice of phrasing depends on a hash of (seed, scenario id, round, agent text), so a resumed
    dialogue continues identically. Holds no per-dialogue state.
    """

    name = "heuristic"
    kind = "heuristic"
    prompt_hash: str | None = None

    def open(self, scenario: Scenario) -> tuple[State, str | None]:
        """The start anchor as the state, and the scenario's opening line (None in charm)."""
        if normalise_language(scenario.language) is None:
            raise ValueError(f"heuristic simulator: scenario {scenario.id!r} is in language "
                             f"{scenario.language!r}; it speaks only en and zh")
        return State(anger=scenario.start.anger, trust=scenario.start.trust), scenario.opening_line

    async def step(self, scenario: Scenario, state: State, history: Sequence[Utterance],
                   agent_text: str, *, seed: int = 0) -> Update:
        """React to ``agent_text``; pure CPU work, see :meth:`step_sync`."""
        return self.step_sync(scenario, state, history, agent_text, seed=seed)

    def step_sync(self, scenario: Scenario, state: State, history: Sequence[Utterance],
                  agent_text: str, *, seed: int = 0) -> Update:
        """React to ``agent_text`` given ``history`` (the turns before it).

        Raises:
            SimulatorFailure: when the scenario's language is not en or zh.
            TypeError: when ``state`` is not a State or ``agent_text`` not a string.
        """
        lang = normalise_language(scenario.language)
        if lang is None:
            raise SimulatorFailure(TerminationReason.SIMULATOR_ERROR,
                                   f"heuristic simulator: scenario {scenario.id!r} is in language "
                                   f"{scenario.language!r}; it speaks only en and zh")
        if not isinstance(state, State):
            raise TypeError(f"state must be a State, got {type(state).__name__}")
        if not isinstance(agent_text, str):
            raise TypeError(f"agent_text must be a str, got {type(agent_text).__name__}")
        scene = scenario.scene.value
        earlier_agent = [u.text for u in history if u.speaker == "agent"]
        user_turns = [u.text for u in history if u.speaker == "user"]
        round_no = len(earlier_agent) + 1
        verdict = judge(scene=scene, lang=lang, state=state, round_no=round_no,
                        max_rounds=scenario.max_rounds, agent_text=agent_text,
                        earlier_agent=earlier_agent, user_turns=user_turns,
                        situation=situation_tokens(lang, scenario.opening_line or "",
                                                   scenario.user_persona, scenario.agent_persona))
        persona = extract_persona(lang, scenario.user_persona, scenario.agent_persona,
                                  scenario.opening_line)
        dice = Dice(seed, scenario.id, round_no, agent_text)
        reply = compose_reply(verdict, scene=scene, lang=lang, persona=persona,
                              round_no=round_no, dice=dice)
        reflection = reflect(verdict, scene=scene, user_name=persona.user_name)
        return Update(reflection=reflection, anger_delta=verdict.anger_delta,
                      trust_delta=verdict.trust_delta, reply=reply,
                      keep_going=verdict.keep_going, stop_reason=verdict.stop_reason,
                      transition=verdict.transition)
