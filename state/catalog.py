"""``Catalog``: the items as rows of a matrix of unit ``float32`` vectors, with categories.

Rows are process-local (assigned on first sight, never reused); ids are the stable names.
Each row also has a *sketch*: its vector times a fixed random projection to ``SKETCH_DIM``
dimensions (Johnson–Lindenstrauss; the same seed everywhere), for cheap approximate cosines
in bulk (per-event drift scores); exact cosines use the vectors.
A row can be *known* (it has a vector and a category: it was upserted) or a placeholder (a
collaborative signal mentioned it first), and *alive* or deleted (a tombstone: the vector is
zeroed and it is never recommended; a later upsert revives it). Nearest neighbours are exact,
by one matrix product (fine to 100k+ items on a CPU).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from state.categories import CategoryIndex, category_nodes
from state.errors import CatalogError
from state.kernels import top_k_columns

__all__ = ["SKETCH_DIM", "Catalog", "projection"]

SKETCH_DIM = 32

F32 = npt.NDArray[np.float32]
I32 = npt.NDArray[np.int32]
I64 = npt.NDArray[np.int64]
B = npt.NDArray[np.bool_]


def projection(dim: int, k: int = SKETCH_DIM) -> F32:
    """The fixed ``(dim, k)`` random projection of the sketches (seeded: stable everywhere)."""
    rng = np.random.default_rng(20_240_101)
    out: F32 = (rng.standard_normal((dim, k)) / np.sqrt(k)).astype(np.float32)
    return out


class Catalog:
    """Item vectors, categories and liveness, addressed by row or by id."""

    def __init__(self, dim: int, max_depth: int = 8, capacity: int = 1024) -> None:
        if dim <= 0 or max_depth <= 0:
            raise CatalogError("dim and max_depth must be positive")
        self.dim = dim
        self.max_depth = max_depth
        self.categories = CategoryIndex()
        self.ids: list[str] = []
        self.index: dict[str, int] = {}
        self.fingerprints: list[int] = []
        self._cap = 0
        self.vectors = np.zeros((0, dim), np.float32)
        self.projection = projection(dim)
        self.sketches = np.zeros((0, SKETCH_DIM), np.float32)
        self.nodes = np.zeros((0, max_depth), np.int32)
        self.known = np.zeros(0, np.bool_)
        self.alive = np.zeros(0, np.bool_)
        self.version = 0
        """Bumped by every change of vectors, categories or liveness (for caches)."""
        self.row_version = np.zeros(0, np.int64)
        """Per row: the :attr:`version` of its last upsert or delete (``0``: never)."""
        self._derived: tuple[tuple[int, int], I64, I32, I64] | None = None
        self._members: tuple[tuple[int, int], dict[int, I64]] = ((-1, -1), {})
        self._grow(capacity)

    def __len__(self) -> int:
        return len(self.ids)

    def _grow(self, need: int) -> None:
        if need <= self._cap:
            return
        cap = max(need, 2 * self._cap, 16)
        vec = np.zeros((cap, self.dim), np.float32)
        vec[: self._cap] = self.vectors
        sk = np.zeros((cap, SKETCH_DIM), np.float32)
        sk[: self._cap] = self.sketches
        self.sketches = sk
        nodes = np.full((cap, self.max_depth), -1, np.int32)
        nodes[: self._cap] = self.nodes
        known = np.zeros(cap, np.bool_)
        known[: self._cap] = self.known
        alive = np.zeros(cap, np.bool_)
        alive[: self._cap] = self.alive
        stamp = np.zeros(cap, np.int64)
        stamp[: self._cap] = self.row_version
        self.vectors, self.nodes, self.known, self.alive = vec, nodes, known, alive
        self.row_version = stamp
        self._cap = cap

    def row(self, item_id: str) -> int | None:
        """The row of ``item_id`` or ``None``."""
        return self.index.get(item_id)

    def ensure_rows(self, item_ids: Sequence[str]) -> I64:
        """Rows of ``item_ids``, adding placeholder rows (unknown, no vector) for new ids."""
        index = self.index
        out = np.empty(len(item_ids), np.int64)
        for i, item_id in enumerate(item_ids):
            r = index.get(item_id)
            if r is None:
                r = len(self.ids)
                self._grow(r + 1)
                index[item_id] = r
                self.ids.append(item_id)
                self.fingerprints.append(0)
                self.alive[r] = True
            out[i] = r
        return out

    def fingerprint(self, item_id: str) -> int | None:
        """The fingerprint last upserted for ``item_id`` (``None``: unknown or deleted)."""
        r = self.index.get(item_id)
        if r is None or not self.known[r] or not self.alive[r]:
            return None
        return self.fingerprints[r]

    def upsert(
        self,
        item_ids: Sequence[str],
        categories: Sequence[str],
        vectors: F32,
        fingerprints: Sequence[int],
    ) -> I64:
        """Add or replace items: unit vectors ``(n, dim)``, category paths, fingerprints."""
        vectors = np.asarray(vectors, np.float32)
        if vectors.shape != (len(item_ids), self.dim):
            raise CatalogError(f"vectors shape {vectors.shape} != ({len(item_ids)}, {self.dim})")
        if not (len(categories) == len(fingerprints) == len(item_ids)):
            raise CatalogError("item_ids, categories and fingerprints differ in length")
        rows = self.ensure_rows(item_ids)
        self.vectors[rows] = vectors
        self.sketches[rows] = vectors @ self.projection
        for r, cat, fp in zip(rows.tolist(), categories, fingerprints, strict=True):
            path = category_nodes(cat)[: self.max_depth]
            self.nodes[r] = -1
            for level, node in enumerate(path):
                self.nodes[r, level] = self.categories.id(node)
            self.fingerprints[r] = fp
        self.known[rows] = True
        self.alive[rows] = True
        self.version += 1
        self.row_version[rows] = self.version
        return rows

    def delete(self, item_id: str) -> bool:
        """Tombstone ``item_id``; ``False`` when it was unknown or already deleted."""
        r = self.index.get(item_id)
        if r is None or not self.alive[r]:
            return False
        self.alive[r] = False
        self.known[r] = False
        self.vectors[r] = 0.0
        self.sketches[r] = 0.0
        self.version += 1
        self.row_version[r] = self.version
        return True

    def matrix(self) -> F32:
        """The ``(len(self), dim)`` vectors (a view; deleted rows and placeholders are zero)."""
        return self.vectors[: len(self.ids)]

    def recommendable(self) -> B:
        """Rows that may be recommended: known and alive (a view-sized copy)."""
        n = len(self.ids)
        return self.known[:n] & self.alive[:n]

    def _derive(self) -> tuple[tuple[int, int], I64, I32, I64]:
        key = (self.version, len(self.ids))
        if self._derived is None or self._derived[0] != key:
            n = len(self.ids)
            paths, inv = np.unique(self.nodes[:n], axis=0, return_inverse=True)
            leaves = self.leaf(np.arange(n, dtype=np.int64)).astype(np.int64)
            self._derived = (key, inv.reshape(-1).astype(np.int64), paths.astype(np.int32), leaves)
        return self._derived

    def path_table(self) -> tuple[I64, I32]:
        """``(path of each row, the distinct node paths (P, max_depth))`` of the live rows.

        Rows with the same category path share a path id (placeholders: the all ``-1`` path).
        Cached until the catalog changes (its ``version`` or length).
        """
        d = self._derive()
        return d[1], d[2]

    def members(self, node: int) -> I64:
        """The rows whose category path contains ``node`` (ascending; cached like
        :meth:`path_table`; do not mutate)."""
        key = (self.version, len(self.ids))
        if self._members[0] != key:
            self._members = (key, {})
        cache = self._members[1]
        rows = cache.get(node)
        if rows is None:
            depth = self.categories.depth(node)
            rows = cache[node] = np.flatnonzero(self.nodes[: len(self.ids), depth - 1] == node)
        return rows

    def leaves(self) -> I64:
        """:meth:`leaf` of every row (cached like :meth:`path_table`; do not mutate)."""
        return self._derive()[3]

    def path_names(self, row: int) -> tuple[str, ...]:
        """The category nodes of ``row``, coarse to fine."""
        return tuple(self.categories.name(int(n)) for n in self.nodes[row] if n >= 0)

    def leaf(self, rows: I64) -> I32:
        """The deepest category node of each row (``-1``: none)."""
        nodes = self.nodes[rows]
        depth = (nodes >= 0).sum(axis=1)
        out = np.full(len(rows), -1, np.int32)
        has = depth > 0
        out[has] = nodes[has, depth[has] - 1]
        return out

    def nearest(self, queries: F32, k: int, mask: B | None = None) -> tuple[I64, F32]:
        """The ``k`` rows of largest dot product with each query (exact), best first; ties by
        the smaller row.

        Only rows in ``mask`` (default: :meth:`recommendable`) are scored; when they are fewer
        than ``k``, rows outside it follow with ``-inf`` (smallest rows first). Returns
        ``(rows (q, k'), scores (q, k'))`` with ``k' = min(k, len(self))``.
        """
        n = len(self.ids)
        q = np.asarray(queries, np.float32).reshape(-1, self.dim)
        k = min(k, n)
        ok = self.recommendable() if mask is None else mask[:n]
        rows = np.flatnonzero(ok)
        top_rows, top = top_k_columns(q @ self.matrix()[rows].T, rows, k)
        short = k - min(k, len(rows))
        if short:
            top_rows[:, k - short :] = np.flatnonzero(~ok)[:short]
        return top_rows, top
