"""``CoVisitation``: item-to-item co-visitation learned online, bounded per item.

Each row keeps at most ``max_neighbors`` neighbours with their decayed pair weights, plus its
decayed *degree* (the total pair mass it ever took part in, pruned or not). A merge adds the
new directed pairs to the existing ones and keeps, per row, the top ``max_neighbors`` by weight
(ties: the smaller neighbour row first), so pruning is deterministic for a given sequence of
merges. Weights are stored at a reference time (:mod:`state.decay`); only ratios are read.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from state.decay import growth, rebase_factor
from state.kernels import sorted_unique, top_within, unique_inverse

__all__ = ["CoVisitation"]

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
I32 = npt.NDArray[np.int32]


class CoVisitation:
    """Top-M weighted neighbours per row."""

    def __init__(self, half_life_ms: float, max_neighbors: int, rebase_exponent: float = 60.0):
        self.half_life_ms = float(half_life_ms)
        self.m = max_neighbors
        self.bound = rebase_exponent
        self.t_ref: int | None = None
        self.nbr: I32 = np.full((0, max_neighbors), -1, np.int32)
        self.w: F64 = np.zeros((0, max_neighbors))
        self.deg: F64 = np.zeros(0)

    def grow(self, n: int) -> None:
        """Make room for rows ``< n``."""
        old = len(self.deg)
        if n <= old:
            return
        cap = max(n, 2 * old, 16)
        nbr = np.full((cap, self.m), -1, np.int32)
        nbr[:old] = self.nbr
        w = np.zeros((cap, self.m))
        w[:old] = self.w
        deg = np.zeros(cap)
        deg[:old] = self.deg
        self.nbr, self.w, self.deg = nbr, w, deg

    def _align(self, t_ref: int) -> float:
        if self.t_ref is None:
            self.t_ref = t_ref
        elif (t_ref - self.t_ref) / self.half_life_ms > self.bound:
            f = float(rebase_factor(self.t_ref, t_ref, self.half_life_ms))
            self.w *= f
            self.deg *= f
            self.t_ref = t_ref
        return float(growth(t_ref, self.t_ref, self.half_life_ms))

    def add(self, t_ref: int, a: I64, b: I64, weights: F64) -> None:
        """Add directed pairs ``a → b`` with ``weights`` stored at ``t_ref``; then prune."""
        keep = (a != b) & (weights > 0.0)
        a, b, weights = a[keep], b[keep], weights[keep]
        if len(a) == 0:
            return
        self.grow(int(max(a.max(), b.max())) + 1)
        weights = weights * self._align(t_ref)
        self.deg += np.bincount(a, weights=weights, minlength=len(self.deg))
        rows = sorted_unique(a)
        old_nbr = self.nbr[rows]
        has = old_nbr >= 0
        old_a = np.broadcast_to(rows[:, None], old_nbr.shape)[has]
        all_a = np.concatenate([old_a, a])
        all_b = np.concatenate([old_nbr[has].astype(np.int64), b])
        all_w = np.concatenate([self.w[rows][has], weights])
        span = len(self.deg) + 1
        key = all_a * span + all_b
        ukey, inv = unique_inverse(key, span * span)
        uw = np.asarray(np.bincount(inv, weights=all_w, minlength=len(ukey)), np.float64)
        ua, ub = ukey // span, ukey % span
        seg = np.append(np.searchsorted(ua, rows), len(ua))
        order, bounds = top_within(uw, seg, self.m)  # each row's best m (and ties), ranked
        ua, ub, uw = ua[order], ub[order], uw[order]
        rank = np.arange(len(order)) - np.repeat(bounds[:-1], np.diff(bounds))
        sel = rank < self.m
        self.nbr[rows] = -1
        self.w[rows] = 0.0
        self.nbr[ua[sel], rank[sel]] = ub[sel]
        self.w[ua[sel], rank[sel]] = uw[sel]

    def neighbors(self, rows: I64) -> tuple[I32, F64]:
        """``(neighbour rows, weights)``, each ``(len(rows), max_neighbors)``; ``-1``: empty."""
        self.grow(int(rows.max()) + 1 if len(rows) else 0)
        return self.nbr[rows], self.w[rows]

    def degree(self, rows: I64) -> F64:
        """The decayed total pair mass of ``rows`` (stored scale)."""
        self.grow(int(rows.max()) + 1 if len(rows) else 0)
        return self.deg[rows]

    def forget(self, row: int) -> None:
        """Remove a row and every edge to it (the item was deleted)."""
        if row >= len(self.deg):
            return
        self.nbr[row] = -1
        self.w[row] = 0.0
        self.deg[row] = 0.0
        hit = self.nbr == row
        self.w[hit] = 0.0
        self.nbr[hit] = -1
