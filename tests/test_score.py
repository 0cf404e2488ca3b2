"""The anchor score (spec section 5): exact formula and its properties."""

from __future__ import annotations

import random

from hypothesis import assume, given
from hypothesis import strategies as st

from eibench.scenarios import read_official
from eibench.scenarios.model import Anchor
from eibench.simulator.score import anchor_score
from eibench.simulator.state import State


def spec_score(a, t, a0, t0, ap, tp, am, tm):
    """The spec's formula, written out independently."""
    eps = 1e-6
    if a <= ap:
        sa = 1.0
    elif a <= a0:
        sa = (a0 - a) / max(a0 - ap, eps)
    elif a <= am:
        sa = (a0 - a) / max(am - a0, eps)
    else:
        sa = -1.0
    if t >= tp:
        st_ = 1.0
    elif t >= t0:
        st_ = (t - t0) / max(tp - t0, eps)
    elif t >= tm:
        st_ = (t - t0) / max(t0 - tm, eps)
    else:
        st_ = -1.0
    return 0.5 * sa + 0.5 * st_


@st.composite
def anchors(draw):
    ap, a0, am = sorted(draw(st.lists(st.integers(0, 100), min_size=3, max_size=3, unique=True)))
    tm, t0, tp = sorted(draw(st.lists(st.integers(0, 100), min_size=3, max_size=3, unique=True)))
    return Anchor(anger=a0, trust=t0), Anchor(anger=ap, trust=tp), Anchor(anger=am, trust=tm)


values = st.integers(0, 100)


@given(anchors(), values, values)
def test_score_in_range(anc, a, t):
    start, success, failure = anc
    assert -1.0 <= anchor_score(State(a, t), start, success, failure) <= 1.0


@given(anchors(), values, values, values)
def test_monotone_anger_down(anc, a1, a2, t):
    assume(a1 < a2)
    start, success, failure = anc
    assert anchor_score(State(a1, t), *anc) >= anchor_score(State(a2, t), start, success, failure)


@given(anchors(), values, values, values)
def test_monotone_trust_up(anc, t1, t2, a):
    assume(t1 < t2)
    assert anchor_score(State(a, t1), *anc) <= anchor_score(State(a, t2), *anc)


@given(anchors())
def test_exact_values_at_anchors(anc):
    start, success, failure = anc
    assert anchor_score(State(start.anger, start.trust), *anc) == 0.0
    assert anchor_score(State(success.anger, success.trust), *anc) == 1.0
    assert anchor_score(State(failure.anger, failure.trust), *anc) == -1.0


@given(anchors(), st.integers(0, 30), st.integers(0, 30))
def test_saturates_beyond_anchors(anc, da, dt):
    _, success, failure = anc
    best = State(max(0, success.anger - da), min(100, success.trust + dt))
    worst = State(min(100, failure.anger + da), max(0, failure.trust - dt))
    assert anchor_score(best, *anc) == 1.0
    assert anchor_score(worst, *anc) == -1.0


@given(anchors())
def test_continuity_at_anchors(anc):
    """Approaching each anchor from either side gives the same value (no jumps)."""
    start, success, failure = anc
    eps = 1e-7
    for a in (success.anger, start.anger, failure.anger):
        lo = anchor_score(State(a, start.trust), *anc)
        from eibench.simulator.score import anger_axis

        left = anger_axis(a - eps, start.anger, success.anger, failure.anger)
        right = anger_axis(a + eps, start.anger, success.anger, failure.anger)
        assert abs(left - right) < 1e-4
        assert abs(lo - 0.5 * anger_axis(a, start.anger, success.anger, failure.anger)) < 1e-12
    from eibench.simulator.score import trust_axis

    for t in (failure.trust, start.trust, success.trust):
        left = trust_axis(t - eps, start.trust, success.trust, failure.trust)
        right = trust_axis(t + eps, start.trust, success.trust, failure.trust)
        assert abs(left - right) < 1e-4


def test_half_way_values():
    start, success, failure = Anchor(anger=60, trust=40), Anchor(anger=20, trust=80), Anchor(
        anger=90, trust=10)
    # anger half-way to success (40) -> 0.5; trust at start -> 0
    assert anchor_score(State(40, 40), start, success, failure) == 0.25
    # anger half-way to failure (75) -> -0.5; trust half-way to failure (25) -> -0.5
    assert anchor_score(State(75, 25), start, success, failure) == -0.5


def test_agrees_with_spec_on_official(official_dir):
    scenarios = read_official(official_dir).scenarios
    assert len(scenarios) == 213
    rng = random.Random(7)
    for s in scenarios:
        for _ in range(20):
            a, t = rng.randint(0, 100), rng.randint(0, 100)
            got = anchor_score(State(a, t), s.start, s.success, s.failure)
            want = spec_score(a, t, s.start.anger, s.start.trust, s.success.anger,
                              s.success.trust, s.failure.anger, s.failure.trust)
            assert abs(got - want) < 1e-9, s.id
