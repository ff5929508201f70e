"""Ranking metrics for one held-out item per user: HR@K and NDCG@K, ties broken fairly.

A user's held-out item has ``greater`` candidates scored strictly above it and ``ties`` other
candidates scored equal to it. Ties are broken uniformly at random and the metrics are the
*expectation* over that tie-break, computed exactly: the item's 0-based rank is uniform on
``greater .. greater + ties``. (Counting only ``greater`` would reward a scorer that gives most
items the same score; counting ``greater + ties`` would punish it beyond chance.)

* ``hit_rate``: P(rank < k).
* ``ndcg``: E[1 / log2(rank + 2)] over ranks < k (0 beyond), which is the NDCG of a single
  relevant item (its ideal DCG is 1).

>>> hit_rate(np.array([0, 3, 12]), np.array([0, 0, 0]), 10).tolist()
[1.0, 1.0, 0.0]
>>> ndcg(np.array([0, 1]), np.array([0, 0]), 10).round(4).tolist()
[1.0, 0.6309]
>>> hit_rate(np.array([8]), np.array([3]), 10).tolist()  # rank uniform on 8..11: 2 of 4 hit
[0.5]
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

__all__ = ["FloatArray", "hit_rate", "ndcg"]

FloatArray = npt.NDArray[np.float64]
IntLike = npt.ArrayLike


def _check(greater: IntLike, ties: IntLike, k: int) -> tuple[npt.NDArray[np.int64], ...]:
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    g = np.asarray(greater, dtype=np.int64)
    t = np.asarray(ties, dtype=np.int64)
    if g.shape != t.shape:
        raise ValueError("greater and ties must have the same shape")
    if g.size and (g.min() < 0 or t.min() < 0):
        raise ValueError("greater and ties must be >= 0")
    return g, t


def hit_rate(greater: IntLike, ties: IntLike, k: int) -> FloatArray:
    """Per user, the probability that the held-out item ranks in the top ``k``."""
    g, t = _check(greater, ties, k)
    hits = np.clip(k - g, 0, t + 1)
    out: FloatArray = hits / (t + 1.0)
    return out


def ndcg(greater: IntLike, ties: IntLike, k: int) -> FloatArray:
    """Per user, the expected NDCG@``k`` of the held-out item under a random tie-break."""
    g, t = _check(greater, ties, k)
    discount = np.concatenate(([0.0], np.cumsum(1.0 / np.log2(np.arange(k) + 2.0))))
    lo = np.minimum(g, k)
    hi = np.minimum(g + t + 1, k)
    out: FloatArray = (discount[hi] - discount[lo]) / (t + 1.0)
    return out
