"""Catalog: rows, categories, tombstones, placeholders, exact nearest neighbours."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest

from state.catalog import Catalog
from state.errors import CatalogError


def _unit(*rows: list[float]) -> npt.NDArray[np.float32]:
    m = np.asarray(rows, np.float32)
    out: npt.NDArray[np.float32] = m / np.linalg.norm(m, axis=1, keepdims=True)
    return out


def test_upsert_and_nodes() -> None:
    cat = Catalog(2, max_depth=3, capacity=1)
    rows = cat.upsert(["a", "b"], ["x/y", "x/z/w"], _unit([1, 0], [0, 1]), [1, 2])
    assert rows.tolist() == [0, 1]
    assert cat.path_names(1) == ("x", "x/z", "x/z/w")
    assert cat.leaf(rows).tolist() == [cat.categories.get("x/y"), cat.categories.get("x/z/w")]
    assert cat.fingerprint("a") == 1
    assert cat.recommendable().tolist() == [True, True]


def test_wrong_shapes_raise() -> None:
    cat = Catalog(2)
    with pytest.raises(CatalogError):
        cat.upsert(["a"], ["x"], np.zeros((1, 3), np.float32), [0])
    with pytest.raises(CatalogError):
        cat.upsert(["a"], [], np.zeros((1, 2), np.float32), [0])


def test_delete_is_a_tombstone_and_upsert_revives() -> None:
    cat = Catalog(2)
    cat.upsert(["a", "b"], ["x", "x"], _unit([1, 0], [0, 1]), [1, 2])
    assert cat.delete("a")
    assert not cat.delete("a")
    assert not cat.delete("nope")
    assert cat.fingerprint("a") is None
    rows, _ = cat.nearest(_unit([1, 0]), 2)
    assert rows.tolist() == [[1, 0]]
    cat.upsert(["a"], ["x"], _unit([1, 0]), [3])
    assert cat.row("a") == 0
    assert cat.recommendable().all()


def test_placeholders_are_not_recommendable() -> None:
    cat = Catalog(2)
    rows = cat.ensure_rows(["p", "q", "p"])
    assert rows.tolist() == [0, 1, 0]
    assert not cat.recommendable().any()
    assert cat.fingerprint("p") is None


def test_nearest_is_exact_and_ordered() -> None:
    rng = np.random.default_rng(0)
    vecs = _unit(*rng.normal(size=(300, 8)).tolist())
    cat = Catalog(8, capacity=4)
    cat.upsert([f"i{i}" for i in range(300)], ["c"] * 300, vecs, list(range(300)))
    q = _unit(*rng.normal(size=(3, 8)).tolist())
    rows, scores = cat.nearest(q, 5)
    want = np.argsort(-(q @ vecs.T), axis=1)[:, :5]
    assert rows.tolist() == want.tolist()
    assert (np.diff(scores, axis=1) <= 0).all()
