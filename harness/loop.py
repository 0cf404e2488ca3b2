"""The dialogue loop: one implementation shared by the harness, the MCP server and the trainer.

A small state machine. It opens the scenario (the user's fixed opening line, or the agent first in
charm), then alternates agent turn and simulator update for at most ``max_rounds`` rounds, writing
every turn to a :class:`Recorder` as it happens. It can continue a dialogue from recorded turns
(resume) without repeating any of them.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from eibench.harness.agents import Agent, AgentError, AgentTurn
from eibench.harness.store import TurnRecord
from eibench.scenarios.model import Scenario
from eibench.simulator.backends.base import Usage
from eibench.simulator.score import anchor_score
from eibench.simulator.state import State
from eibench.simulator.types import (
    Simulator,
    SimulatorFailure,
    TerminationReason,
    Update,
    Utterance,
)


class Recorder(Protocol):
    """Where the loop writes each turn as it happens (the store, or a list in tests)."""

    def record(self, turn: TurnRecord) -> None: ...


@dataclass
class ListRecorder:
    """Keeps turns in memory."""

    turns: list[TurnRecord] = field(default_factory=list)

    def record(self, turn: TurnRecord) -> None:
        self.turns.append(turn)


@dataclass
class DialogueResult:
    """How a dialogue ended."""

    reason: TerminationReason
    state: State
    score: float
    rounds: int
    history: list[Utterance]
    error: str | None = None
    #: tokens spent on calls that left no turn behind (a simulator step that failed)
    unrecorded_usage: Usage = field(default_factory=Usage)

    @property
    def failed(self) -> bool:
        """Infrastructure failures (the agent or simulator could not answer) are not scores."""
        return self.reason in (TerminationReason.AGENT_ERROR, TerminationReason.SIMULATOR_ERROR,
                               TerminationReason.HARNESS_ERROR)


def score_state(scenario: Scenario, state: State) -> float:
    """The anchor score of ``state`` for ``scenario``."""
    return anchor_score(state, scenario.start, scenario.success, scenario.failure)


@dataclass
class Dialogue:
    """The live state of one dialogue: what has been said, the state, the next turn index.

    Build it fresh with :meth:`start` or from recorded turns with :meth:`resume`.
    """

    scenario: Scenario
    state: State
    history: list[Utterance] = field(default_factory=list)
    next_idx: int = 0
    pending_agent: Utterance | None = None
    stopped: bool = False

    @property
    def rounds(self) -> int:
        return sum(1 for u in self.history if u.speaker == "agent") + (
            1 if self.pending_agent else 0)

    @property
    def over(self) -> bool:
        return self.stopped or (self.rounds >= self.scenario.max_rounds
                                and self.pending_agent is None)

    @classmethod
    def start(cls, scenario: Scenario, simulator: Simulator, recorder: Recorder) -> Dialogue:
        """Open the scenario; record the user's opening line when there is one."""
        state, opening = simulator.open(scenario)
        dialogue = cls(scenario=scenario, state=state)
        if opening:
            recorder.record(TurnRecord(
                idx=0, round=0, speaker="user", text=opening, anger_before=state.anger,
                trust_before=state.trust, anger_after=state.anger, trust_after=state.trust,
                keep_going=True))
            dialogue.history.append(Utterance("user", opening))
            dialogue.next_idx = 1
        return dialogue

    @classmethod
    def resume(cls, scenario: Scenario, simulator: Simulator, turns: Sequence[TurnRecord],
               recorder: Recorder) -> Dialogue:
        """Rebuild a dialogue from its recorded turns; an agent turn with no answer is pending."""
        if not turns:
            return cls.start(scenario, simulator, recorder)
        state, _ = simulator.open(scenario)
        dialogue = cls(scenario=scenario, state=state)
        for turn in turns:
            if turn.speaker == "agent":
                dialogue.pending_agent = Utterance("agent", turn.text, think=turn.think)
                continue
            if dialogue.pending_agent is not None:
                dialogue.history.append(dialogue.pending_agent)
                dialogue.pending_agent = None
            dialogue.history.append(Utterance("user", turn.text, reflection=turn.reflection))
            if turn.anger_after is not None and turn.trust_after is not None:
                dialogue.state = State(turn.anger_after, turn.trust_after)
            if turn.keep_going is False:
                dialogue.stopped = True
        dialogue.next_idx = turns[-1].idx + 1
        return dialogue

    def agent_turn_record(self, turn: AgentTurn) -> TurnRecord:
        return TurnRecord(
            idx=self.next_idx, round=self.rounds + 1, speaker="agent", text=turn.text,
            think=turn.think, raw=turn.raw if turn.raw != turn.text else "",
            anger_before=self.state.anger, trust_before=self.state.trust,
            latency_ms=turn.latency_s * 1000, input_tokens=turn.usage.input_tokens,
            output_tokens=turn.usage.output_tokens, cost_usd=turn.usage.cost_usd,
            logprobs=turn.logprobs)

    def accept_agent(self, turn: AgentTurn, recorder: Recorder) -> None:
        """Record the agent's turn; it waits for the simulator as ``pending_agent``."""
        recorder.record(self.agent_turn_record(turn))
        self.next_idx += 1
        self.pending_agent = Utterance("agent", turn.text, think=turn.think)

    async def answer(self, simulator: Simulator, recorder: Recorder, *, seed: int) -> Update:
        """Run the simulator on the pending agent turn and record the user's reply."""
        assert self.pending_agent is not None
        started = time.perf_counter()
        update = await simulator.step(self.scenario, self.state, list(self.history),
                                      self.pending_agent.text, seed=seed)
        latency = time.perf_counter() - started
        t = update.transition
        recorder.record(TurnRecord(
            idx=self.next_idx, round=self.rounds, speaker="user", text=update.reply,
            reflection=update.reflection, anger_before=t.before.anger, trust_before=t.before.trust,
            anger_after=t.after.anger, trust_after=t.after.trust,
            anger_delta_raw=t.raw_anger_delta, trust_delta_raw=t.raw_trust_delta,
            anger_delta=t.applied_anger_delta, trust_delta=t.applied_trust_delta,
            keep_going=update.keep_going, stop_reason=update.stop_reason, raw=update.raw,
            latency_ms=latency * 1000, input_tokens=update.usage.input_tokens,
            output_tokens=update.usage.output_tokens, cost_usd=update.usage.cost_usd,
            attempts=update.attempts, rejected=tuple(update.rejected)))
        self.next_idx += 1
        self.history.append(self.pending_agent)
        self.pending_agent = None
        self.history.append(Utterance("user", update.reply, reflection=update.reflection))
        self.state = update.state
        if not update.keep_going:
            self.stopped = True
        return update

    def result(self, reason: TerminationReason, error: str | None = None) -> DialogueResult:
        return DialogueResult(reason=reason, state=self.state,
                              score=score_state(self.scenario, self.state),
                              rounds=self.rounds if self.pending_agent is None else self.rounds - 1,
                              history=list(self.history), error=error)


async def run_dialogue(scenario: Scenario, agent: Agent, simulator: Simulator,
                       recorder: Recorder, *, seed: int = 0,
                       resume_from: Sequence[TurnRecord] = ()) -> DialogueResult:
    """Play one dialogue to its end and return how it ended.

    Agent and simulator failures end the dialogue with their termination reason (the last good
    state stands); they are never raised. Cancellation propagates (the caller decides whether the
    episode is resumable).
    """
    dialogue = (Dialogue.resume(scenario, simulator, resume_from, recorder) if resume_from
                else Dialogue.start(scenario, simulator, recorder))
    while True:
        if dialogue.pending_agent is None:
            if dialogue.stopped:
                return dialogue.result(TerminationReason.SIMULATOR_STOPPED)
            if dialogue.rounds >= scenario.max_rounds:
                return dialogue.result(TerminationReason.MAX_ROUNDS)
            try:
                turn = await agent.reply(scenario, list(dialogue.history),
                                         seed=seed * 1000 + dialogue.rounds + 1)
            except AgentError as exc:
                return dialogue.result(TerminationReason.AGENT_ERROR, str(exc))
            dialogue.accept_agent(turn, recorder)
        try:
            await dialogue.answer(simulator, recorder, seed=seed)
        except SimulatorFailure as exc:
            detail = json.dumps({"message": str(exc), "raw": exc.raw}, ensure_ascii=False)
            result = dialogue.result(exc.reason, detail)
            result.unrecorded_usage = exc.usage
            return result
