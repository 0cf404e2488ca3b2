"""CTC-GRPO reward and advantage arithmetic (spec section 6). Pure Python: no torch, no numpy.

Every formula of the paper lives here once:

* outcome reward of a rollout: ``R = clip(score - 0.2 * missing_think_share - 0.05 * malformed,
  -1, 1)``;
* turn score from the deltas the simulator actually applied: ``r_t = 0.5 * (-d_anger / 100) +
  0.5 * (d_trust / 100)``;
* rollout advantage within a group: ``A_i = (R_i - mean R) / (max(std R, 0.1) + 1e-6)`` with the
  unbiased standard deviation; a group of one uses mean 0 and std 1;
* centred turn credit: ``A_it = A_i + alpha * (r_it - mean_t r_it)`` (alpha 15), which moves credit
  between the turns of a rollout without changing its mean; the uncentred ablation uses
  ``A_i + alpha * r_it`` and ``alpha = 0`` gives plain GRPO.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

__all__ = [
    "ALPHA",
    "MALFORMED_PENALTY",
    "STD_EPS",
    "STD_FLOOR",
    "THINK_PENALTY",
    "group_advantages",
    "outcome_reward",
    "turn_credit",
    "turn_score",
]

#: Weight of the centred turn score in the per-turn advantage.
ALPHA = 15.0
#: Penalty per unit share of agent turns whose think block is missing or empty.
THINK_PENALTY = 0.2
#: Penalty when any agent turn of the rollout is malformed.
MALFORMED_PENALTY = 0.05
#: Lower bound on the group's standard deviation, so near-identical rewards are not blown up.
STD_FLOOR = 0.1
#: Added to the denominator of the rollout advantage.
STD_EPS = 1e-6


def _clip(value: float, low: float, high: float) -> float:
    return max(low, min(high, value))


def outcome_reward(score: float, *, n_turns: int, n_missing_think: int,
                   any_malformed: bool) -> float:
    """The outcome reward R of one rollout.

    Args:
        score: the anchor score of the final state, in [-1, 1].
        n_turns: the number of agent turns in the rollout.
        n_missing_think: how many of them had a missing or empty think block.
        any_malformed: whether any agent turn was malformed (empty think, empty reply, broken
            tags).

    Raises:
        ValueError: on a count that is negative or larger than ``n_turns``, or a non-finite score.
    """
    if not math.isfinite(score):
        raise ValueError(f"score must be a finite number, got {score!r}")
    if n_turns < 0 or not 0 <= n_missing_think <= max(n_turns, 0):
        raise ValueError(f"need 0 <= n_missing_think ({n_missing_think}) <= n_turns ({n_turns})")
    share = n_missing_think / n_turns if n_turns else 0.0
    reward = score - THINK_PENALTY * share - (MALFORMED_PENALTY if any_malformed else 0.0)
    return _clip(reward, -1.0, 1.0)


def turn_score(anger_delta: int | None, trust_delta: int | None) -> float:
    """The score of one agent turn from the deltas applied by the user turn that answered it.

    ``None`` (the turn was never answered, e.g. the simulator failed) scores 0 on that axis.
    """
    da = anger_delta or 0
    dt = trust_delta or 0
    return 0.5 * (-da / 100.0) + 0.5 * (dt / 100.0)


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values)


def group_advantages(rewards: Sequence[float]) -> list[float]:
    """Rollout advantages ``A_i`` of one group (the rollouts of one scenario, or of one scene).

    Uses the unbiased (n - 1) standard deviation, floored at :data:`STD_FLOOR`. A group of one has
    mean 0 and std 1, so its advantage is ``R / (1 + 1e-6)``.

    Raises:
        ValueError: on an empty group or a non-finite reward.
    """
    if not rewards:
        raise ValueError("a group needs at least one rollout")
    if not all(math.isfinite(r) for r in rewards):
        raise ValueError(f"rewards must be finite, got {list(rewards)}")
    if len(rewards) == 1:
        mean, std = 0.0, 1.0
    else:
        mean = _mean(rewards)
        std = math.sqrt(sum((r - mean) ** 2 for r in rewards) / (len(rewards) - 1))
    denominator = max(std, STD_FLOOR) + STD_EPS
    return [(r - mean) / denominator for r in rewards]


def turn_credit(rollout_advantage: float, scores: Sequence[float], *, alpha: float = ALPHA,
                center: bool = True) -> list[float]:
    """Per-turn advantages ``A_it`` of one rollout.

    Args:
        rollout_advantage: the rollout's ``A_i``.
        scores: the turn scores ``r_it`` of its agent turns, in order.
        alpha: weight of the turn term (0 gives plain GRPO: every turn gets ``A_i``).
        center: subtract the rollout's mean turn score (the paper's method); ``False`` is the
            uncentred ablation ``A_i + alpha * r_it``.

    With centring, the mean of the returned values equals ``A_i`` (up to rounding) and a one-turn
    rollout gets exactly ``A_i``.
    """
    if not scores:
        return []
    if center:
        if len(scores) == 1:
            return [rollout_advantage]
        mean = _mean(scores)
        return [rollout_advantage + alpha * (r - mean) for r in scores]
    return [rollout_advantage + alpha * r for r in scores]
