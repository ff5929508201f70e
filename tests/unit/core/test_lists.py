"""The group-wise category cap equals :func:`state.diversity.category_cap` per user."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from state.diversity import category_cap
from streams.core.lists import _category_cap


@settings(max_examples=300, deadline=None)
@given(
    leaves=st.lists(st.lists(st.integers(-1, 3), max_size=12), min_size=1, max_size=5),
    cap=st.integers(1, 3),
    k=st.integers(1, 8),
)
def test_group_cap_equals_the_per_user_walk(leaves: list[list[int]], cap: int, k: int) -> None:
    counts = [len(x) for x in leaves]
    seg = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    user = np.repeat(np.arange(len(leaves)), counts).astype(np.int64)
    flat = np.array([c for x in leaves for c in x], np.int64)
    got = _category_cap(user, seg, flat, cap, k)[0].tolist()
    expected: list[int] = []
    for u, x in enumerate(leaves):
        picks = category_cap(np.arange(len(x)), np.array(x, np.int64), cap, k)
        expected += (picks + seg[u]).tolist()
    assert got == expected
