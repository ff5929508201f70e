"""Decay math: factors multiply, decaying in steps equals decaying at once, rebases are free."""

from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st

from state.decay import decay, growth, rebase_factor

H = st.floats(min_value=1.0, max_value=1e10)
DT = st.floats(min_value=0.0, max_value=1e11)
T = st.integers(min_value=0, max_value=10**13)


@settings(max_examples=200)
@given(a=DT, b=DT, h=H)
def test_factors_multiply(a: float, b: float, h: float) -> None:
    want = float(decay(a + b, h))
    got = float(decay(a, h) * decay(b, h))
    assert math.isclose(got, want, rel_tol=1e-9, abs_tol=1e-300)


@settings(max_examples=200)
@given(t0=T, d1=st.integers(0, 10**10), d2=st.integers(0, 10**10), h=H, w=st.floats(-1e3, 1e3))
def test_decay_to_t1_then_t2_equals_decay_to_t2(
    t0: int, d1: int, d2: int, h: float, w: float
) -> None:
    t1, t2 = t0 + d1, t0 + d1 + d2
    stepwise = w * float(decay(t1 - t0, h)) * float(decay(t2 - t1, h))
    direct = w * float(decay(t2 - t0, h))
    assert math.isclose(stepwise, direct, rel_tol=1e-9, abs_tol=1e-300)


@settings(max_examples=200)
@given(ref=T, t=T, new_ref=T, h=st.floats(min_value=1e3, max_value=1e10), w=st.floats(0.1, 1e3))
def test_value_is_independent_of_the_reference(
    ref: int, t: int, new_ref: int, h: float, w: float
) -> None:
    if abs(t - ref) / h > 500 or abs(t - new_ref) / h > 500 or abs(new_ref - ref) / h > 500:
        return  # outside the bound the engine rebases before
    query = max(t, ref, new_ref)
    stored = w * float(growth(t, ref, h))
    value = stored * float(decay(query - ref, h))
    moved = stored * float(rebase_factor(ref, new_ref, h))
    value2 = moved * float(decay(query - new_ref, h))
    assert math.isclose(value, value2, rel_tol=1e-9, abs_tol=1e-300)


# entries of a vector are zero or within 1e3 of its largest: scaled by 2^-1000 they stay
# normal floats (no precision lost to subnormals, which no rescaling could bring back)
ENTRY = st.floats(-1.0, 1.0).filter(lambda x: x == 0.0 or abs(x) >= 1e-3)


@settings(max_examples=200)
@given(
    a=st.lists(ENTRY, min_size=8, max_size=8),
    b=st.lists(ENTRY, min_size=8, max_size=8),
    ea=st.integers(-1000, 300),
    eb=st.integers(-1000, 300),
)
def test_the_drift_cosine_ignores_the_vectors_scale(
    a: list[float], b: list[float], ea: int, eb: int
) -> None:
    """Kept relative to a batch's reference time, an old event's vectors are scaled by up to
    2^-1000: its cosine is the one of the same vectors at their own time."""
    import numpy as np

    from streams.core.drifting import cosine

    va, vb = np.array(a), np.array(b)
    want = cosine(va, vb)
    got = cosine(va * 2.0**ea, vb * 2.0**eb)
    assert math.isclose(got, want, rel_tol=1e-12, abs_tol=1e-12)
    if np.any(va) and np.any(vb):
        direct = float(va @ vb / (np.linalg.norm(va) * np.linalg.norm(vb)))
        assert math.isclose(want, max(-1.0, min(1.0, direct)), rel_tol=1e-12, abs_tol=1e-12)
