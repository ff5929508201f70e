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


def _random_deltas(rng: np.random.Generator, t_ref: int, n_items: int) -> SignalDeltas:
    items = tuple(f"it{i}" for i in rng.permutation(n_items)[: rng.integers(2, n_items)])
    k, p = int(rng.integers(1, 40)), int(rng.integers(1, 80))
    a = rng.integers(len(items), size=p)
    b = rng.integers(len(items), size=p)
    return SignalDeltas(
        t_ref=t_ref,
        items=items,
        pop_item=rng.integers(len(items), size=k).astype(np.int64),
        pop_w=rng.random(k),
        pair_a=np.concatenate([a, b]).astype(np.int64),
        pair_b=np.concatenate([b, a]).astype(np.int64),
        pair_w=np.concatenate([w := rng.random(p), w]),
    )


def _by_id(sig: Signals, cat: Catalog) -> dict[str, tuple[float, float, list[tuple[str, float]]]]:
    """Every item's (popularity, degree, ranked neighbours) by id, at the stored scale."""
    n = len(cat)
    sig.covis.grow(n)
    sig.trending.grow(n)
    out = {}
    for r, item in enumerate(cat.ids):
        nbr = sig.covis.nbr[r]
        out[item] = (
            float(sig.trending.pop[r]),
            float(sig.covis.deg[r]),
            [(cat.ids[b], float(w)) for b, w in zip(nbr, sig.covis.w[r], strict=True) if b >= 0],
        )
    return {k: v for k, v in out.items() if v[0] or v[1] or v[2]}


@pytest.mark.parametrize("seed", range(5))
def test_totals_restore_what_was_held_and_later_deltas_apply_alike(seed: int) -> None:
    """A start from a checkpoint: the totals loaded into fresh signals (whose catalog
    numbers the items differently) hold the same by id, and go on to the same state."""
    rng = np.random.default_rng(seed)
    half_life = 3 * 86_400_000.0
    first = [_random_deltas(rng, i * 3_600_000, 30) for i in range(8)]
    later = [_random_deltas(rng, (8 + i) * 3_600_000, 40) for i in range(8)]
    cat, sig = Catalog(2), Signals(half_life, 5, half_life / 10, rebase_exponent=2.0)
    for d in first:
        sig.apply(d, cat)
    totals = sig.totals(cat)
    other = Catalog(2)
    other.ensure_rows([f"it{i}" for i in range(39, -1, -1)])  # other rows, reversed
    back = Signals(half_life, 5, half_life / 10, rebase_exponent=2.0)
    back.load(totals, other)
    assert _by_id(back, other) == _by_id(sig, cat)
    assert (back.covis.t_ref, back.trending.t_ref) == (sig.covis.t_ref, sig.trending.t_ref)
    for d in later:
        sig.apply(d, cat)
        back.apply(d, other)
    want, got = _by_id(sig, cat), _by_id(back, other)
    assert got.keys() == want.keys()
    for item, (pop, deg, nbrs) in want.items():
        g = got[item]
        assert g[0] == pytest.approx(pop)
        assert g[1] == pytest.approx(deg)
        assert dict(g[2]) == pytest.approx(dict(nbrs))  # ties may rank by other rows


def test_totals_of_nothing_and_fewer_neighbours() -> None:
    cat = Catalog(2)
    empty = Signals(1e9, 4, 1e9).totals(cat)
    assert (empty.items, empty.covis_t_ref) == ((), None)
    back = Signals(1e9, 4, 1e9)
    back.load(empty, cat)
    assert back.covis.t_ref is None
    rng = np.random.default_rng(9)
    sig = Signals(1e9, 6, 1e9)
    for i in range(5):
        sig.apply(_random_deltas(rng, i, 20), cat)
    narrow = Signals(1e9, 2, 1e9)  # max_neighbors lowered: the best two are kept
    narrow.load(sig.totals(cat), cat)
    for item, (_, _, nbrs) in _by_id(narrow, cat).items():
        assert nbrs == _by_id(sig, cat)[item][2][:2]
