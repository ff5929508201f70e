"""HR@K and NDCG@K: hand-computed cases, the tie rule, and properties."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from streams.evaluation.metrics import hit_rate, ndcg
from streams.evaluation.ranking import full_rank, sample_negatives, sampled_rank

ranks = st.lists(st.tuples(st.integers(0, 300), st.integers(0, 300)), min_size=1, max_size=30)


def test_hand_computed_examples() -> None:
    g = np.array([0, 1, 9, 10, 50])
    t = np.zeros(5, dtype=np.int64)
    np.testing.assert_allclose(hit_rate(g, t, 10), [1, 1, 1, 0, 0])
    expected = [1.0, 1 / math.log2(3), 1 / math.log2(11), 0.0, 0.0]
    np.testing.assert_allclose(ndcg(g, t, 10), expected)
    np.testing.assert_allclose(hit_rate(g, t, 1), [1, 0, 0, 0, 0])


def test_ties_are_the_expectation_over_a_random_tie_break() -> None:
    # 8 strictly better, 3 tied: the rank is uniform on 8..11, so 2 of 4 places are in the top 10
    assert hit_rate(np.array([8]), np.array([3]), 10)[0] == pytest.approx(0.5)
    want = (1 / math.log2(10) + 1 / math.log2(11)) / 4
    assert ndcg(np.array([8]), np.array([3]), 10)[0] == pytest.approx(want)


@given(st.integers(0, 12), st.integers(0, 4), st.integers(1, 15))
def test_ties_match_brute_force_over_all_orders(greater: int, ties: int, k: int) -> None:
    """Enumerating every order of the tied items gives the same expectation."""
    hits, gains = [], []
    for perm in itertools.permutations(range(ties + 1)):
        rank = greater + perm.index(0)  # item 0 is the held-out one
        hits.append(1.0 if rank < k else 0.0)
        gains.append(1 / math.log2(rank + 2) if rank < k else 0.0)
    assert hit_rate(np.array([greater]), np.array([ties]), k)[0] == pytest.approx(np.mean(hits))
    assert ndcg(np.array([greater]), np.array([ties]), k)[0] == pytest.approx(np.mean(gains))


@given(ranks, st.integers(1, 50))
def test_hr_is_monotone_in_k(pairs: list[tuple[int, int]], k: int) -> None:
    g, t = np.array(pairs).T
    assert np.all(hit_rate(g, t, k) <= hit_rate(g, t, k + 1) + 1e-12)
    assert np.all(ndcg(g, t, k) <= ndcg(g, t, k + 1) + 1e-12)


@given(ranks, st.integers(1, 50))
def test_ndcg_is_at_most_hr_and_both_in_unit_interval(pairs: list[tuple[int, int]], k: int) -> None:
    g, t = np.array(pairs).T
    hr, nd = hit_rate(g, t, k), ndcg(g, t, k)
    assert np.all((hr >= 0) & (hr <= 1) & (nd >= 0))
    assert np.all(nd <= hr + 1e-12)


@given(st.integers(1, 40), st.integers(1, 20))
def test_a_perfect_ranking_scores_one(n_items: int, k: int) -> None:
    scores = np.arange(n_items, dtype=np.float64)[None, :]
    target = np.array([n_items - 1])
    g, t = full_rank(scores, target, np.zeros((1, n_items), dtype=bool))
    assert (g[0], t[0]) == (0, 0)
    assert hit_rate(g, t, k)[0] == 1.0 == ndcg(g, t, k)[0]


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ValueError, match="k must"):
        hit_rate(np.array([0]), np.array([0]), 0)
    with pytest.raises(ValueError, match=">= 0"):
        ndcg(np.array([-1]), np.array([0]), 5)


def test_full_rank_ignores_excluded_items_and_counts_nan_lowest() -> None:
    scores = np.array([[0.9, np.nan, 0.5, 0.7, 0.5], [np.nan, 0.1, 0.2, 0.3, 0.4]])
    excluded = np.array([[True, False, False, False, False], [False] * 5])
    g, t = full_rank(scores, np.array([2, 0]), excluded)
    assert g.tolist() == [1, 4]  # row 0: only 0.7 beats 0.5 (0.9 is excluded)
    assert t.tolist() == [1, 0]  # row 0: the other 0.5 ties; row 1: NaN target is lowest


def test_negatives_are_allowed_distinct_and_seeded() -> None:
    excluded = np.zeros((3, 50), dtype=bool)
    excluded[:, :10] = True
    target = np.array([20, 30, 40])
    a = sample_negatives(excluded, target, 20, np.random.default_rng(5))
    b = sample_negatives(excluded, target, 20, np.random.default_rng(5))
    np.testing.assert_array_equal(a, b)
    for row, tgt in zip(a, target, strict=True):
        assert len(set(row.tolist())) == 20
        assert row.min() >= 10
        assert tgt not in row
    few = sample_negatives(excluded, target, 45, np.random.default_rng(0))
    assert np.all((few >= 0).sum(axis=1) == 39)
    assert np.all(few[:, 39:] == -1)


def test_sampled_rank_counts_only_the_sampled_items() -> None:
    scores = np.array([[5.0, 4.0, 3.0, 2.0, 1.0, 3.0]])
    g, t = sampled_rank(scores, np.array([2]), np.array([[0, 4, 5, -1]]))
    assert (g[0], t[0]) == (1, 1)
