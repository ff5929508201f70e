"""ItemIndex: exact below min_rows, IVF above (recall, fresh rows, deletes, rebuilds)."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest

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
