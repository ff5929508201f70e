"""Compare user states by their *values* at a common time (stored sums differ by t_ref)."""

from __future__ import annotations

import numpy as np

from state.user import UserState
from streams.core.params import DecayParams

__all__ = ["assert_same_values", "values_at"]


def values_at(st: UserState, t: int, decay: DecayParams) -> dict[str, object]:
    """Vectors and category sums decayed to ``t``, plus the non-decayed memories."""
    fs = 2.0 ** (-(t - st.t_ref) / decay.short_half_life_ms)
    fl = 2.0 ** (-(t - st.t_ref) / decay.long_half_life_ms)
    cats = {
        name: (pair[0] * fs, pair[1] * fl)
        for level in st.categories
        for name, pair in level.items()
    }
    return {
        "short": st.short * fs,
        "long": st.long * fl,
        "categories": cats,
        "n_events": st.n_events,
        "watermark": st.watermark,
        "consumed": set(st.consumed),
        "disliked": set(st.disliked),
    }


def assert_same_values(
    a: UserState, b: UserState, t: int, decay: DecayParams, rtol: float = 1e-9
) -> None:
    """``a`` and ``b`` hold the same values at ``t`` (float64, relative ``rtol``)."""
    va, vb = values_at(a, t, decay), values_at(b, t, decay)
    for key in ("short", "long"):
        x, y = va[key], vb[key]
        assert isinstance(x, np.ndarray)
        assert isinstance(y, np.ndarray)
        scale = max(float(np.abs(x).max()), 1e-300)
        assert np.abs(x - y).max() <= rtol * scale, key
    ca, cb = va["categories"], vb["categories"]
    assert isinstance(ca, dict)
    assert isinstance(cb, dict)
    assert ca.keys() == cb.keys()
    for name, (s, lv) in ca.items():
        s2, l2 = cb[name]
        assert abs(s - s2) <= rtol * max(abs(s), abs(s2), 1e-300), name
        assert abs(lv - l2) <= rtol * max(abs(lv), abs(l2), 1e-300), name
    for key in ("n_events", "watermark", "consumed", "disliked"):
        assert va[key] == vb[key], key
