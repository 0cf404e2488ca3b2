"""The simulated user: state, score, backends and simulators."""

from eibench.simulator.score import anchor_score
from eibench.simulator.state import State, Transition, apply_deltas, clip_delta

__all__ = ["State", "Transition", "anchor_score", "apply_deltas", "clip_delta"]
