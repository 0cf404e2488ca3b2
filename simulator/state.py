"""The user's hidden state and the clipped update rule (spec section 3)."""

from __future__ import annotations

from dataclasses import dataclass

STATE_MIN = 0
STATE_MAX = 100
DELTA_LIMIT = 10


def _clip(value: int, low: int, high: int) -> int:
    return max(low, min(high, value))


@dataclass(frozen=True, slots=True)
class State:
    """Two integers in [0, 100]: ``anger`` (lower is better) and ``trust`` (higher is better)."""

    anger: int
    trust: int

    def __post_init__(self) -> None:
        for name in ("anger", "trust"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise TypeError(f"State.{name} must be an int, got {value!r}")
            if not STATE_MIN <= value <= STATE_MAX:
                raise ValueError(f"State.{name} must be in [0, 100], got {value}")

    def as_dict(self) -> dict[str, int]:
        return {"anger": self.anger, "trust": self.trust}


@dataclass(frozen=True, slots=True)
class Transition:
    """The result of applying one simulator turn's deltas to a state."""

    before: State
    after: State
    raw_anger_delta: int
    raw_trust_delta: int

    @property
    def applied_anger_delta(self) -> int:
        """The change actually applied to anger, after both clips (the training credit)."""
        return self.after.anger - self.before.anger

    @property
    def applied_trust_delta(self) -> int:
        """The change actually applied to trust, after both clips (the training credit)."""
        return self.after.trust - self.before.trust


def clip_delta(delta: int) -> int:
    """Clip one proposed delta to [-10, 10]."""
    return _clip(int(delta), -DELTA_LIMIT, DELTA_LIMIT)


def apply_deltas(state: State, anger_delta: int, trust_delta: int) -> Transition:
    """Clip each delta to [-10, 10], add it, then clip the state to [0, 100]."""
    after = State(
        anger=_clip(state.anger + clip_delta(anger_delta), STATE_MIN, STATE_MAX),
        trust=_clip(state.trust + clip_delta(trust_delta), STATE_MIN, STATE_MAX),
    )
    return Transition(before=state, after=after, raw_anger_delta=int(anger_delta),
                      raw_trust_delta=int(trust_delta))
