"""State and the clipped update rule (spec section 3)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from eibench.simulator.state import State, apply_deltas, clip_delta


def test_delta_clipped_then_state_clipped():
    t = apply_deltas(State(95, 3), 25, -40)
    assert t.after == State(100, 0)
    assert (t.raw_anger_delta, t.raw_trust_delta) == (25, -40)
    # applied = what actually changed, after both clips
    assert (t.applied_anger_delta, t.applied_trust_delta) == (5, -3)


def test_in_range_delta_applies_as_is():
    t = apply_deltas(State(50, 50), -7, 4)
    assert t.after == State(43, 54)
    assert (t.applied_anger_delta, t.applied_trust_delta) == (-7, 4)


@given(st.integers(0, 100), st.integers(0, 100), st.integers(-1000, 1000), st.integers(-1000, 1000))
def test_update_invariants(a, t, da, dt):
    tr = apply_deltas(State(a, t), da, dt)
    assert 0 <= tr.after.anger <= 100 and 0 <= tr.after.trust <= 100
    assert abs(tr.applied_anger_delta) <= 10 and abs(tr.applied_trust_delta) <= 10
    assert tr.before.anger + tr.applied_anger_delta == tr.after.anger
    assert clip_delta(da) == max(-10, min(10, da))


@pytest.mark.parametrize("bad", [(-1, 5), (5, 101), (1.5, 2), (True, 3)])
def test_state_rejects_bad_values(bad):
    with pytest.raises((ValueError, TypeError)):
        State(*bad)
