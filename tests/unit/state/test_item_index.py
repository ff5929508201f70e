"""ItemIndex: exact below min_rows, IVF above (recall, fresh rows, deletes, rebuilds)."""

from __future__ import annotations

import logging
import threading
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

from state import item_index
from state.catalog import Catalog
from state.item_index import Codes, ItemIndex

DIM = 16


def _clustered(n: int, seed: int, centers: int = 20) -> npt.NDArray[np.float32]:
    rng = np.random.default_rng(seed)
    c = rng.standard_normal((centers, DIM))
    x = c[rng.integers(centers, size=n)] + 0.3 * rng.standard_normal((n, DIM))
    out: npt.NDArray[np.float32] = (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)
    return out


def _catalog(vectors: npt.NDArray[np.float32], prefix: str = "i") -> Catalog:
    cat = Catalog(DIM)
    ids = [f"{prefix}{i}" for i in range(len(vectors))]
    cat.upsert(ids, ["c"] * len(ids), vectors, list(range(len(ids))))
    return cat


def _exact(cat: Catalog, q: npt.NDArray[np.float32], k: int) -> list[set[int]]:
    s = q @ cat.matrix().T
    s[:, ~cat.recommendable()] = -np.inf
    return [set(np.argsort(-row, kind="stable")[:k].tolist()) for row in s]


def test_small_catalogs_are_exact_with_ties_by_row() -> None:
    vecs = _clustered(50, 0)
    vecs[7] = vecs[3]  # a tie: the smaller row first
    cat = _catalog(vecs)
    cat.delete("i10")
    index = ItemIndex(cat, min_rows=1000)
    rows, scores = index.search(vecs[[3, 10]], 5)
    assert not index.approximate
    assert rows[0, :2].tolist() == [3, 7]
    assert 10 not in rows[1].tolist()
    assert np.all(np.diff(scores, axis=1) <= 0)
    full, _ = index.search(vecs[:1], 60)  # more than exist: padded
    assert (full[0] == -1).sum() == 11
    assert sorted(full[0][full[0] >= 0].tolist()) == sorted(set(range(50)) - {10})


@pytest.mark.parametrize("codes", ["pq4", "fp16"])
def test_large_catalogs_use_the_inverted_file_with_high_recall(codes: Codes) -> None:
    vecs = _clustered(4000, 1)
    cat = _catalog(vecs)
    index = ItemIndex(cat, min_rows=1000, nprobe=16, codes=codes)
    q = _clustered(200, 2)
    rows, scores = index.search(q, 20)
    assert index.approximate
    assert index.builds == 1
    exact = _exact(cat, q, 20)
    recall = np.mean([len(set(r.tolist()) & e) / 20 for r, e in zip(rows, exact, strict=True)])
    assert recall > 0.9
    mat = cat.matrix()
    assert np.allclose(scores, np.einsum("qd,qkd->qk", q, mat[rows]), atol=1e-5)


def test_changed_deleted_and_new_rows_are_seen_before_a_rebuild() -> None:
    vecs = _clustered(2000, 3)
    cat = _catalog(vecs)
    index = ItemIndex(cat, min_rows=1000, rebuild_fraction=0.5)
    index.search(vecs[:1], 5)
    target = _clustered(1, 9)[0]
    cat.upsert(["i5"], ["c"], target[None], [99])  # moved
    cat.upsert(["new"], ["c"], -target[None], [100])  # added
    cat.delete("i6")
    rows, _ = index.search(np.stack([target, -target, vecs[6]]), 3)
    assert index.builds == 1  # answered from the old index plus the fresh rows
    assert rows[0, 0] == 5
    assert rows[1, 0] == cat.row("new")
    assert 6 not in rows[2].tolist()


def test_enough_fresh_rows_trigger_a_rebuild_and_results_are_deterministic() -> None:
    vecs = _clustered(2000, 4)
    q = _clustered(50, 5)
    a, b = _catalog(vecs), _catalog(vecs)
    ia, ib = ItemIndex(a, min_rows=1000), ItemIndex(b, min_rows=1000)
    assert np.array_equal(ia.search(q, 10)[0], ib.search(q, 10)[0])
    more = _clustered(400, 6)
    a.upsert([f"x{i}" for i in range(400)], ["c"] * 400, more, list(range(400)))
    ia.search(q, 10)
    assert ia.builds == 2


def test_product_codes_select_and_exact_scores_decide() -> None:
    """pq4: a fast-scan index of d/4 sub-quantizers; its candidates are re-scored exactly, so
    with every list scanned and a slack covering the catalog the answer is the exact one."""
    vecs = _clustered(1500, 7)
    cat = _catalog(vecs)
    q = _clustered(40, 8)
    index = ItemIndex(cat, min_rows=1000, nprobe=10**6, rerank=200.0)
    rows, scores = index.search(q, 5)
    assert type(index._ivf).__name__ == "IndexIVFPQFastScan"
    assert index._ivf.pq.M == DIM // 4
    assert [set(r.tolist()) for r in rows] == _exact(cat, q, 5)
    assert np.allclose(scores, np.einsum("qd,qkd->qk", q, cat.matrix()[rows]), atol=1e-6)


def test_product_codes_need_a_dimension_divisible_by_four() -> None:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((1200, 18)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)  # each row its own nearest
    cat = Catalog(18)
    cat.upsert([f"i{i}" for i in range(1200)], ["c"] * 1200, x, list(range(1200)))
    index = ItemIndex(cat, min_rows=1000)
    rows, _ = index.search(x[:3], 4)
    assert type(index._ivf).__name__ == "IndexIVFScalarQuantizer"
    assert rows[:, 0].tolist() == [0, 1, 2]


def _grown(cat: Catalog, n: int, seed: int, prefix: str) -> None:
    more = _clustered(n, seed)
    cat.upsert([f"{prefix}{i}" for i in range(n)], ["c"] * n, more, list(range(n)))


def test_a_background_rebuild_serves_the_old_index_meanwhile_and_is_the_same_index() -> None:
    """The first build is in line; a due rebuild runs in a thread while the old index and
    the exact pass over the fresh rows answer; the first search after it finished
    installs it, and it is the index an in-line rebuild at that moment would have built."""
    vecs = _clustered(2000, 4)
    q = _clustered(50, 5)
    a, b = _catalog(vecs), _catalog(vecs)
    bg = ItemIndex(a, min_rows=1000, background=True)
    inline = ItemIndex(b, min_rows=1000)
    bg.search(q, 10)
    assert (bg.builds, bg.building) == (1, False)  # the first build: in line
    inline.search(q, 10)
    _grown(a, 400, 6, "x")
    _grown(b, 400, 6, "x")
    exact = _exact(a, q, 10)
    meanwhile, _ = bg.search(q, 10)  # due: starts the rebuild, answers without it
    assert bg.builds == 1
    assert bg.building
    new_rows = set(range(2000, 2400))
    for got, want in zip(meanwhile, exact, strict=True):  # fresh rows: scored exactly
        assert want & new_rows <= set(got.tolist())
    assert bg.wait(timeout=60)
    assert bg.builds == 1  # finished, not yet installed
    after, scores = bg.search(q, 10)
    assert (bg.builds, bg.building) == (2, False)
    rows_b, scores_b = inline.search(q, 10)  # rebuilt in line on the same history
    assert inline.builds == 2
    assert np.array_equal(after, rows_b)
    assert np.array_equal(scores, scores_b)


def test_rows_changed_during_a_background_rebuild_stay_fresh(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The build reads the catalog while the engine changes it: rows moved or deleted,
    and the catalog's arrays reallocated by growth, all while the build is held halfway.
    The installed index must not answer with any of those rows' old vectors."""
    vecs = _clustered(2000, 10)
    cat = _catalog(vecs)
    index = ItemIndex(cat, min_rows=1000, background=True)
    index.search(vecs[:1], 5)
    started, release = threading.Event(), threading.Event()
    train = item_index._train

    def held(*args: Any) -> Any:
        started.set()
        assert release.wait(60)
        return train(*args)

    monkeypatch.setattr(item_index, "_train", held)
    _grown(cat, 400, 11, "x")
    index.search(vecs[:1], 5)  # starts the rebuild over the catalog as it is now
    assert started.wait(60)
    capacity = len(cat.vectors)
    _grown(cat, capacity, 17, "y")  # past the capacity: every array reallocated
    assert len(cat.vectors) > capacity
    target = _clustered(1, 12)[0]
    cat.upsert(["i5"], ["c"], target[None], [99])  # moved after the snapshot
    cat.delete("i6")
    release.set()
    assert index.wait(timeout=60)
    q = np.stack([target, vecs[6], vecs[7]])
    rows, scores = index.search(q, 10)
    assert index.builds == 2
    assert rows[0, 0] == 5  # its stale entry ignored, its new vector scored exactly
    assert 6 not in rows[1].tolist()
    assert np.allclose(scores, np.einsum("qd,qkd->qk", q, cat.matrix()[rows]), atol=1e-5)


def test_prepare_waits_for_a_background_rebuild() -> None:
    vecs = _clustered(2000, 13)
    cat = _catalog(vecs)
    index = ItemIndex(cat, min_rows=1000, background=True)
    index.prepare()
    assert index.builds == 1
    _grown(cat, 400, 14, "x")
    index.search(vecs[:1], 5)
    index.prepare()
    assert (index.builds, index.building) == (2, False)


def test_a_failed_background_rebuild_is_logged_and_done_in_line(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    vecs = _clustered(2000, 15)
    cat = _catalog(vecs)
    index = ItemIndex(cat, min_rows=1000, background=True)
    index.search(vecs[:1], 5)
    train = item_index._train
    calls: list[int] = []

    def broken_once(*args: Any) -> Any:
        calls.append(1)
        if len(calls) == 1:
            raise MemoryError("no room for the index")
        return train(*args)

    monkeypatch.setattr(item_index, "_train", broken_once)
    _grown(cat, 400, 16, "x")
    index.search(vecs[:1], 5)
    assert index.wait(timeout=60)
    with caplog.at_level(logging.ERROR, logger="state.item_index"):
        rows, _ = index.search(vecs[:1], 5)  # takes the failure, rebuilds here
    assert "build of the item index failed" in caplog.text
    assert "no room" in caplog.text
    assert (index.builds, index.building, len(calls)) == (2, False, 2)
    assert index.last_build is not None
    assert not index.last_build.background
    assert rows[0, 0] == 0


def test_a_catalog_that_shrinks_below_the_threshold_drops_a_running_build() -> None:
    vecs = _clustered(2000, 18)
    cat = _catalog(vecs)
    index = ItemIndex(cat, min_rows=1500, background=True)
    index.search(vecs[:1], 5)
    _grown(cat, 400, 19, "x")
    index.search(vecs[:1], 5)
    assert index.building
    for i in range(1000):
        cat.delete(f"i{i}")
    rows, _ = index.search(vecs[1000:1001], 5)  # exact now
    assert rows[0, 0] == 1000
    assert (index.approximate, index.building) == (False, False)
    _grown(cat, 600, 20, "z")
    index.search(vecs[1000:1001], 5)  # above again: a first build, in line
    assert (index.approximate, index.building, index.builds) == (True, False, 2)


def test_row_products_are_each_querys_own_rows_and_skip_the_padding() -> None:
    rng = np.random.default_rng(3)
    mat = rng.standard_normal((40, DIM)).astype(np.float32)
    q = rng.standard_normal((3, DIM)).astype(np.float32)
    rows = np.array([[5, 0, 39, -1], [7, -1, -1, -1], [-1, -1, -1, -1]], np.int64)
    got = item_index.row_products(q, mat, rows)
    assert got.dtype == np.float32
    assert got.shape == (3, 4)
    want = np.einsum("ij,ikj->ik", q.astype(np.float64), mat[np.maximum(rows, 0)].astype(float))
    assert np.allclose(got[rows >= 0], want[rows >= 0], rtol=1e-5, atol=1e-5)
    assert np.isneginf(got[rows < 0]).all()
    # a product does not depend on the other queries or on the padding width
    alone = item_index.row_products(q[1:2], mat, np.array([[7]], np.int64))
    assert alone[0, 0] == got[1, 0]
    assert item_index.row_products(q, mat, np.zeros((3, 0), np.int64)).shape == (3, 0)
    with pytest.raises(ValueError, match="row_products"):
        item_index.row_products(q[:2], mat, rows)
