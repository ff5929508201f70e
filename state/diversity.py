"""Diversification of a ranked list: a per-category cap, or maximal marginal relevance.

>>> category_cap(np.array([0, 1, 2, 3]), np.array([7, 7, 7, 8]), cap=2, k=3).tolist()
[0, 1, 3]
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

__all__ = ["category_cap", "mmr"]

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]
F32 = npt.NDArray[np.float32]


def category_cap(order: I64, category: I64, cap: int, k: int) -> I64:
    """The first ``k`` of ``order`` taking at most ``cap`` per category (``-1``: no cap).

    When the cap leaves fewer than ``k``, the skipped ones fill up in their order.
    """
    counts: dict[int, int] = {}
    taken: list[int] = []
    skipped: list[int] = []
    for i, c in zip(order.tolist(), category[order].tolist(), strict=True):
        if c >= 0 and counts.get(c, 0) >= cap:
            skipped.append(i)
            continue
        counts[c] = counts.get(c, 0) + 1
        taken.append(i)
        if len(taken) == k:
            break
    taken += skipped[: k - len(taken)]
    return np.asarray(taken, np.int64)


def mmr(relevance: F64, vectors: F32, k: int, lam: float) -> I64:
    """Greedy maximal marginal relevance: ``lam · rel − (1 − lam) · max cos to the chosen``."""
    n = len(relevance)
    k = min(k, n)
    if k == 0:
        return np.zeros(0, np.int64)
    sim = (vectors @ vectors.T).astype(np.float64)
    chosen: list[int] = []
    best_sim = np.full(n, -np.inf)
    free = np.ones(n, bool)
    for _ in range(k):
        penalty = np.where(np.isfinite(best_sim), best_sim, 0.0)
        value = np.where(free, lam * relevance - (1.0 - lam) * penalty, -np.inf)
        i = int(np.argmax(value))
        chosen.append(i)
        free[i] = False
        best_sim = np.maximum(best_sim, sim[i])
    return np.asarray(chosen, np.int64)
