"""``Trending``: decayed popularity per catalog row (the prior, and the cold-start list).

Stored at a reference time like every decayed sum (:mod:`state.decay`); only ratios are read.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from state.decay import growth, rebase_factor

__all__ = ["Trending"]

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]


class Trending:
    """Popularity per row, decayed with ``half_life_ms`` on event time."""

    def __init__(self, half_life_ms: float, rebase_exponent: float = 60.0) -> None:
        self.half_life_ms = float(half_life_ms)
        self.bound = rebase_exponent
        self.t_ref: int | None = None
        self.pop: F64 = np.zeros(0)

    def grow(self, n: int) -> None:
        """Make room for rows ``< n``."""
        if n > len(self.pop):
            pop = np.zeros(max(n, 2 * len(self.pop), 16))
            pop[: len(self.pop)] = self.pop
            self.pop = pop

    def _align(self, t_ref: int) -> float:
        """Rebase if ``t_ref`` is far ahead; the factor for weights stored at ``t_ref``."""
        if self.t_ref is None:
            self.t_ref = t_ref
        elif (t_ref - self.t_ref) / self.half_life_ms > self.bound:
            self.pop *= float(rebase_factor(self.t_ref, t_ref, self.half_life_ms))
            self.t_ref = t_ref
        return float(growth(t_ref, self.t_ref, self.half_life_ms))

    def add(self, t_ref: int, rows: I64, weights: F64) -> None:
        """Add ``weights`` (stored at ``t_ref``) to ``rows`` (duplicates add up)."""
        if len(rows) == 0:
            return
        self.grow(int(rows.max()) + 1)
        f = self._align(t_ref)
        self.pop += np.bincount(rows, weights=weights * f, minlength=len(self.pop))

    def scores(self, n: int) -> F64:
        """Popularity of rows ``< n`` relative to the most popular (in ``[0, 1]``)."""
        self.grow(n)
        p = self.pop[:n]
        top = float(p.max()) if n else 0.0
        return p / top if top > 0.0 else np.zeros(n)

    def forget(self, row: int) -> None:
        """Zero a row (the item was deleted)."""
        if row < len(self.pop):
            self.pop[row] = 0.0
