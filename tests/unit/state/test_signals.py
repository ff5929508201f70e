"""Co-visitation, trending and their additive deltas."""

from __future__ import annotations

import numpy as np
import pytest

from state.catalog import Catalog
from state.covisitation import CoVisitation
from state.signals import SignalDeltas, Signals
from state.trending import Trending


def _a(*x: int) -> np.ndarray:
    return np.asarray(x, np.int64)


def test_covis_sums_and_keeps_top_m() -> None:
    cv = CoVisitation(1e12, max_neighbors=2)
    cv.add(0, _a(0, 0, 0, 0, 1), _a(1, 2, 3, 1, 1), np.array([1.0, 2.0, 0.5, 1.5, 9.0]))
    nbr, w = cv.neighbors(_a(0))
    assert nbr[0].tolist() == [1, 2]  # 1: 2.5, 2: 2.0 beat 3: 0.5
    assert w[0].tolist() == pytest.approx([2.5, 2.0])
    assert cv.degree(_a(0)).tolist() == pytest.approx([5.0])  # pruned mass still counts
    nbr1, _ = cv.neighbors(_a(1))
    assert nbr1[0].tolist() == [-1, -1]  # self pairs are skipped


def test_covis_ties_prune_to_the_smaller_row() -> None:
    cv = CoVisitation(1e12, max_neighbors=1)
    cv.add(0, _a(0, 0), _a(5, 4), np.array([1.0, 1.0]))
    assert cv.neighbors(_a(0))[0][0].tolist() == [4]


def test_covis_decay_and_rebase_keep_ratios() -> None:
    cv = CoVisitation(100.0, max_neighbors=4, rebase_exponent=2.0)
    cv.add(0, _a(0), _a(1), np.array([1.0]))
    cv.add(1_000, _a(0), _a(2), np.array([1.0]))  # 10 half-lives later: a rebase
    assert cv.t_ref == 1_000
    nbr, w = cv.neighbors(_a(0))
    got = dict(zip(nbr[0].tolist(), w[0].tolist(), strict=True))
    assert got[2] / got[1] == pytest.approx(2.0**10)


def test_covis_forget_removes_edges_both_ways() -> None:
    cv = CoVisitation(1e12, max_neighbors=4)
    cv.add(0, _a(0, 1), _a(1, 0), np.array([1.0, 1.0]))
    cv.forget(1)
    assert cv.neighbors(_a(0))[0][0].tolist() == [-1] * 4
    assert cv.degree(_a(1)).tolist() == [0.0]


def test_trending_relative_scores() -> None:
    tr = Trending(1_000.0)
    tr.add(0, _a(0, 1, 1), np.ones(3))
    tr.add(1_000, _a(0), np.ones(1))  # one half-life later counts double
    assert tr.scores(3).tolist() == pytest.approx([1.0, 2 / 3, 0.0])
    tr.forget(0)
    assert tr.scores(3).tolist() == pytest.approx([0.0, 1.0, 0.0])


def test_deltas_json_round_trip_and_apply_by_id() -> None:
    d = SignalDeltas(
        t_ref=5,
        items=("x", "y"),
        pop_item=_a(0, 1),
        pop_w=np.array([1.0, 0.25]),
        pair_a=_a(0, 1),
        pair_b=_a(1, 0),
        pair_w=np.array([0.1, 0.1]),
    )
    back = SignalDeltas.from_json(d.to_json())
    assert back.items == d.items
    assert back.pop_w.tolist() == d.pop_w.tolist()
    assert len(back) == 4
    cat = Catalog(2)
    sig = Signals(1e9, 4, 1e9)
    sig.apply(back, cat)
    assert cat.ids == ["x", "y"]
    assert sig.trending.scores(2).tolist() == pytest.approx([1.0, 0.25])
    assert sig.covis.neighbors(_a(0))[0][0, 0] == 1


def test_deltas_reject_bad_indices() -> None:
    with pytest.raises(ValueError, match="out of range"):
        SignalDeltas.from_json(
            b'{"t_ref":0,"items":["a"],"pop_item":[3],"pop_w":[1],'
            b'"pair_a":[],"pair_b":[],"pair_w":[]}'
        )
