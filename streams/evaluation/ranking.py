"""Where the held-out item lands: full-catalog rank and rank among sampled negatives.

Both take a matrix of scores (one row per user, one column per catalog item), the held-out
column per row, and a boolean ``excluded`` matrix (items the user already consumed; never the
held-out item). NaN scores count as the lowest possible score. The outputs are ``(greater,
ties)`` per row for :mod:`streams.evaluation.metrics`.

* ``full_rank``: candidates are every non-excluded item.
* ``sampled_rank``: candidates are the held-out item and ``negatives`` columns per row
  (``sample_negatives``: uniform without replacement among non-excluded, non-held-out items;
  fewer when fewer exist — those rows are padded with -1 and the padding is ignored).

>>> s = np.array([[0.1, 0.9, 0.5, 0.5]])
>>> full_rank(s, np.array([2]), np.zeros((1, 4), dtype=bool))
(array([1]), array([1]))
>>> full_rank(s, np.array([2]), np.array([[False, True, False, False]]))
(array([0]), array([1]))
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

__all__ = ["full_rank", "sample_negatives", "sampled_rank"]

FloatMatrix = npt.NDArray[np.floating]
BoolMatrix = npt.NDArray[np.bool_]
IntArray = npt.NDArray[np.int64]


def _clean(scores: FloatMatrix) -> npt.NDArray[np.float64]:
    s = np.asarray(scores, dtype=np.float64)
    return np.where(np.isnan(s), -np.inf, s)


def full_rank(
    scores: FloatMatrix, target: IntArray, excluded: BoolMatrix
) -> tuple[IntArray, IntArray]:
    """``(greater, ties)`` of each row's ``target`` among the row's non-excluded items."""
    s = _clean(scores)
    rows = np.arange(s.shape[0])
    t = s[rows, target][:, None]
    allowed = ~np.asarray(excluded, dtype=bool)
    allowed[rows, target] = False
    greater = ((s > t) & allowed).sum(axis=1)
    ties = ((s == t) & allowed).sum(axis=1)
    return greater.astype(np.int64), ties.astype(np.int64)


def sample_negatives(
    excluded: BoolMatrix, target: IntArray, negatives: int, rng: np.random.Generator
) -> IntArray:
    """Per row, ``negatives`` distinct allowed columns (see the module docstring); -1 pads."""
    if negatives < 1:
        raise ValueError(f"negatives must be >= 1, got {negatives}")
    allowed = ~np.asarray(excluded, dtype=bool)
    rows = np.arange(allowed.shape[0])
    allowed[rows, target] = False
    out = np.full((allowed.shape[0], negatives), -1, dtype=np.int64)
    for r in rows.tolist():
        pool = np.flatnonzero(allowed[r])
        n = min(negatives, pool.size)
        out[r, :n] = rng.choice(pool, size=n, replace=False)
    return out


def sampled_rank(
    scores: FloatMatrix, target: IntArray, negatives: IntArray
) -> tuple[IntArray, IntArray]:
    """``(greater, ties)`` of each row's ``target`` among its sampled ``negatives``."""
    s = _clean(scores)
    rows = np.arange(s.shape[0])
    t = s[rows, target][:, None]
    valid = negatives >= 0
    neg = s[rows[:, None], np.where(valid, negatives, 0)]
    greater = ((neg > t) & valid).sum(axis=1)
    ties = ((neg == t) & valid).sum(axis=1)
    return greater.astype(np.int64), ties.astype(np.int64)
