"""The anchor score (spec section 5): final state against the scenario's three anchors."""

from __future__ import annotations

from typing import Protocol

EPS = 1e-6


class _Point(Protocol):
    @property
    def anger(self) -> int: ...
    @property
    def trust(self) -> int: ...


def anger_axis(a: float, start: float, success: float, failure: float) -> float:
    """Map anger ``a`` to [-1, 1]: 1 at or below ``success``, 0 at ``start``, -1 at or above ``failure``."""
    if a <= success:
        return 1.0
    if a <= start:
        return (start - a) / max(start - success, EPS)
    if a <= failure:
        return (start - a) / max(failure - start, EPS)
    return -1.0


def trust_axis(t: float, start: float, success: float, failure: float) -> float:
    """Map trust ``t`` to [-1, 1]: 1 at or above ``success``, 0 at ``start``, -1 at or below ``failure``."""
    if t >= success:
        return 1.0
    if t >= start:
        return (t - start) / max(success - start, EPS)
    if t >= failure:
        return (t - start) / max(start - failure, EPS)
    return -1.0


def anchor_score(final: _Point, start: _Point, success: _Point, failure: _Point) -> float:
    """Score a final state: 0.5 x anger axis + 0.5 x trust axis, in [-1, 1].

    +1 means both success anchors were reached, -1 both failure anchors, 0 no change from the
    start anchor. Upstream data sometimes has a start anchor outside [success, failure]; the
    formula is applied exactly as written, so such an axis is saturated from the start.
    """
    s_a = anger_axis(final.anger, start.anger, success.anger, failure.anger)
    s_t = trust_axis(final.trust, start.trust, success.trust, failure.trust)
    return 0.5 * s_a + 0.5 * s_t
