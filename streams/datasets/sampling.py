"""Weighted sampling of one member per group, vectorised (inverse CDF over grouped weights).

``GroupSampler(group_of, weights, n_groups)`` takes, for every element ``e``, its group
``group_of[e]`` in ``[0, n_groups)`` and a non-negative weight. ``sample(groups, rng)`` returns,
for every requested group, one element drawn with probability proportional to its weight
within that group (independently, with replacement), or ``-1`` where the group is empty or
all its weights are zero. One ``searchsorted`` call serves any number of requests.

>>> s = GroupSampler(np.array([0, 1, 1]), np.array([1.0, 0.0, 2.0]), n_groups=3)
>>> s.sample(np.array([0, 1, 2, 1]), np.random.default_rng(0)).tolist()
[0, 2, -1, 2]
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

__all__ = ["GroupSampler", "IntArray"]

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]


class GroupSampler:
    """Draws one element per requested group, proportionally to the elements' weights."""

    __slots__ = ("_cum", "_hi", "_lo", "_order", "_starts", "_stops")

    def __init__(self, group_of: npt.ArrayLike, weights: npt.ArrayLike, *, n_groups: int) -> None:
        groups = np.asarray(group_of, dtype=np.int64)
        w = np.asarray(weights, dtype=np.float64)
        if groups.shape != w.shape or groups.ndim != 1:
            raise ValueError("group_of and weights must be 1-d arrays of the same length")
        if groups.size and (groups.min() < 0 or groups.max() >= n_groups):
            raise ValueError(f"group ids must lie in [0, {n_groups})")
        if not np.all(np.isfinite(w)) or np.any(w < 0):
            raise ValueError("weights must be finite and non-negative")
        self._order: IntArray = np.argsort(groups, kind="stable")
        self._cum: FloatArray = np.cumsum(w[self._order])
        counts = np.bincount(groups, minlength=n_groups)
        self._stops: IntArray = np.cumsum(counts)
        self._starts: IntArray = self._stops - counts
        padded = np.concatenate(([0.0], self._cum))
        self._lo: FloatArray = padded[self._starts]
        self._hi: FloatArray = padded[self._stops]

    def sample(self, groups: npt.ArrayLike, rng: np.random.Generator) -> IntArray:
        """One element per entry of ``groups`` (``-1`` for an empty or weightless group)."""
        g = np.asarray(groups, dtype=np.int64)
        lo, hi = self._lo[g], self._hi[g]
        u = lo + rng.random(g.shape) * (hi - lo)
        pos = np.searchsorted(self._cum, u, side="right")
        pos = np.clip(pos, self._starts[g], np.maximum(self._stops[g] - 1, self._starts[g]))
        out = np.full(g.shape, -1, dtype=np.int64)
        ok = hi > lo
        out[ok] = self._order[pos[ok]]
        return out
