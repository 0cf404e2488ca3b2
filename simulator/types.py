"""The records that cross the simulator seam: utterances, updates, and the Simulator protocol."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Literal, Protocol, runtime_checkable

from eibench.simulator.backends.base import Usage
from eibench.simulator.state import State, Transition

if TYPE_CHECKING:
    from eibench.scenarios.model import Scenario

Speaker = Literal["user", "agent"]


class TerminationReason(StrEnum):
    """Why a dialogue ended."""

    SIMULATOR_STOPPED = "simulator_stopped"
    MAX_ROUNDS = "max_rounds"
    SIMULATOR_UNPARSEABLE = "simulator_unparseable"
    SIMULATOR_ERROR = "simulator_error"
    AGENT_ERROR = "agent_error"
    CANCELLED = "cancelled"
    HARNESS_ERROR = "harness_error"


@dataclass(frozen=True, slots=True)
class Utterance:
    """One turn of the dialogue as later turns see it.

    ``text`` is only the spoken words. ``think`` (agent) and ``reflection`` (user) are private:
    the simulator never sees the agent's think, the agent never sees the user's reflection.
    """

    speaker: Speaker
    text: str
    think: str = ""
    reflection: str = ""


@dataclass(frozen=True, slots=True)
class Update:
    """The simulator's answer to one agent turn: the state goes in, the new state comes out."""

    reflection: str
    anger_delta: int
    trust_delta: int
    reply: str
    keep_going: bool
    stop_reason: str
    transition: Transition
    usage: Usage = field(default_factory=Usage)
    attempts: int = 1
    raw: str = ""
    #: outputs of earlier attempts of this step that could not be parsed (kept, never lost)
    rejected: tuple[str, ...] = ()

    @property
    def state(self) -> State:
        """The state after this update."""
        return self.transition.after

    @property
    def applied_anger_delta(self) -> int:
        return self.transition.applied_anger_delta

    @property
    def applied_trust_delta(self) -> int:
        return self.transition.applied_trust_delta


class SimulatorFailure(Exception):
    """The simulator could not produce a usable update; the dialogue ends with ``reason``.

    ``raw`` keeps every output the simulator produced for the turn so nothing is lost.
    """

    def __init__(self, reason: TerminationReason, message: str, raw: Sequence[str] = (),
                 usage: Usage | None = None) -> None:
        super().__init__(message)
        self.reason = reason
        self.raw = list(raw)
        self.usage = usage or Usage()


@runtime_checkable
class Simulator(Protocol):
    """The simulated user. Holds no per-dialogue state: the state is passed in and handed out.

    Attributes:
        name: what reports print, e.g. ``"heuristic"`` or ``"llm:openai:gpt-4o"``.
        kind: ``"heuristic"`` or ``"llm"``.
        prompt_hash: hash of the prompt template (None for the heuristic simulator).
    """

    @property
    def name(self) -> str: ...

    @property
    def kind(self) -> str: ...

    @property
    def prompt_hash(self) -> str | None: ...

    def open(self, scenario: Scenario) -> tuple[State, str | None]:
        """Start a dialogue: the start state and the user's opening line (None in charm)."""
        ...

    async def step(self, scenario: Scenario, state: State, history: Sequence[Utterance],
                   agent_text: str, *, seed: int = 0) -> Update:
        """React to ``agent_text`` (spoken words only) given ``history`` (before it).

        Raises:
            SimulatorFailure: when no usable update could be produced.
        """
        ...


def rounds_done(history: Sequence[Utterance]) -> int:
    """Number of agent turns in ``history``."""
    return sum(1 for u in history if u.speaker == "agent")
