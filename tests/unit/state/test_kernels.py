"""The grouped numpy kernels equal their slow definitions (np.unique, lexsort)."""

from __future__ import annotations

import doctest

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

import state.kernels
from state.kernels import (
    descending_within,
    find_sorted,
    first_argmax,
    sorted_unique,
    top_k_columns,
    top_k_per_row,
    top_within,
    unique_inverse,
)


def test_doctests() -> None:
    assert doctest.testmod(state.kernels).failed == 0


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(-5, 40), max_size=60))
def test_sorted_unique_is_np_unique(xs: list[int]) -> None:
    x = np.array(xs, np.int64)
    assert sorted_unique(x).tolist() == np.unique(x).tolist()


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 5), st.sampled_from([0.0, 0.5, 1.0, 2.0])), max_size=60))
def test_first_argmax_is_the_head_of_a_lexsort(pairs: list[tuple[int, float]]) -> None:
    group = np.array([g for g, _ in pairs], np.int64)
    value = np.array([v for _, v in pairs], np.float64)
    got = first_argmax(group, value, 6)
    order = np.lexsort((-value, group))
    for g in range(6):
        members = order[group[order] == g]
        assert got[g] == (members[0] if len(members) else len(value))


@settings(max_examples=200, deadline=None)
@given(st.lists(st.lists(st.sampled_from([0.0, 0.25, 1.0, 3.0]), max_size=8), max_size=8))
def test_descending_within_is_a_three_key_lexsort(groups: list[list[float]]) -> None:
    value = np.array([v for g in groups for v in g], np.float64)
    seg = np.concatenate([[0], np.cumsum([len(g) for g in groups])]).astype(np.int64)
    segment = np.repeat(np.arange(len(groups)), [len(g) for g in groups])
    expected = np.lexsort((np.arange(len(value)), -value, segment))
    assert descending_within(value, seg).tolist() == expected.tolist()


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(0, 40), max_size=60), st.integers(0, 400))
def test_unique_inverse_and_bounded_unique_are_np_unique(xs: list[int], extra: int) -> None:
    x = np.array(xs, np.int64)
    keys, inv = np.unique(x, return_inverse=True)
    for bound in (41, 41 + extra, 1 << 60):  # dense table, either path, np.unique fallback
        got_keys, got_inv = unique_inverse(x, bound)
        assert got_keys.tolist() == keys.tolist()
        assert got_inv.tolist() == inv.reshape(-1).tolist()
        assert sorted_unique(x, bound).tolist() == keys.tolist()


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.lists(st.sampled_from([0.0, 0.25, 1.0, 3.0]), max_size=12), max_size=8),
    st.integers(0, 13),
    st.lists(st.booleans(), min_size=8, max_size=8),
)
def test_top_within_is_the_head_of_the_full_ranking(
    groups: list[list[float]], depth: int, whole: list[bool]
) -> None:
    value = np.array([v for g in groups for v in g], np.float64)
    counts = [len(g) for g in groups]
    seg = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    full = descending_within(value, seg)
    mask = np.array(whole[: len(groups)], np.bool_)
    got, bounds = top_within(value, seg, depth, mask)
    for g in range(len(groups)):
        head = got[bounds[g] : bounds[g + 1]].tolist()
        ranked = full[seg[g] : seg[g + 1]].tolist()
        assert head == ranked[: len(head)]
        if mask[g] or depth <= 0:
            assert len(head) == counts[g]
        else:
            assert len(head) >= min(depth, counts[g])
            cut = sorted(groups[g], reverse=True)[min(depth, counts[g]) - 1] if head else 0.0
            assert all(v < cut for v in value[ranked[len(head) :]])


@settings(max_examples=200, deadline=None)
@given(st.sets(st.integers(0, 30), max_size=20), st.lists(st.integers(-3, 33), max_size=30))
def test_find_sorted_finds_exactly_the_present_keys(keys: set[int], wanted: list[int]) -> None:
    k = np.array(sorted(keys), np.int64)
    w = np.array(wanted, np.int64)
    pos, hit = find_sorted(k, w)
    assert hit.tolist() == [x in keys for x in wanted]
    assert k[pos[hit]].tolist() == [x for x in wanted if x in keys]


@settings(max_examples=200, deadline=None)
@given(
    st.integers(1, 5),
    st.integers(1, 30),
    st.integers(0, 33),
    st.integers(0, 2**32 - 1),
)
def test_the_best_k_are_a_full_sort_cut_short(q: int, m: int, k: int, seed: int) -> None:
    """The partition shortcut orders like sorting everything by (score desc, row), ties and
    ``-1`` padding included."""
    rng = np.random.default_rng(seed)
    scores = rng.integers(0, 4, (q, m)).astype(np.float32)  # many ties
    rows = rng.integers(0, 40, (q, m))
    rows[rng.random((q, m)) < 0.2] = -1
    scores[rows < 0] = -np.inf
    got_rows, got_scores = top_k_per_row(rows, scores, k)
    key = np.where(rows >= 0, rows, np.iinfo(np.int64).max)
    order = np.lexsort((key, -scores), axis=1)[:, : min(k, m)]
    assert np.array_equal(got_rows, np.take_along_axis(rows, order, axis=1))
    assert np.array_equal(got_scores, np.take_along_axis(scores, order, axis=1))


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 4), st.integers(0, 20), st.integers(0, 25), st.integers(0, 2**32 - 1))
def test_top_k_columns_resolve_ties_by_the_smaller_name(q: int, m: int, k: int, seed: int) -> None:
    """Shared column names: the same order as sorting every column by (score desc, name),
    cut at ``k`` and padded with ``-1`` / ``-inf``, ties at the ``k``-th score included."""
    rng = np.random.default_rng(seed)
    scores = rng.integers(0, 3, (q, m)).astype(np.float32)
    names = rng.permutation(100)[:m].astype(np.int64)
    got_names, got_scores = top_k_columns(scores, names, k)
    for r in range(q):
        want = sorted(zip((-scores[r]).tolist(), names.tolist(), strict=True))[:k]
        pad = k - len(want)
        assert got_names[r].tolist() == [n for _, n in want] + [-1] * pad
        assert got_scores[r].tolist() == [-s for s, _ in want] + [-np.inf] * pad
