"""Exponential decay on event time, exact whatever the arrival order.

A decayed sum is stored at a reference time ``t_ref``: an event of weight ``w`` at time ``t``
adds ``w · growth(t, t_ref, h)`` with ``growth = 2 ** ((t − t_ref) / h)``, and the sum's value at
time ``T`` is ``stored · 2 ** (−(T − t_ref) / h)`` = Σ w_i · 2^(−(T − t_i)/h). Addition commutes,
so the arrival order does not matter (up to float rounding). Before a growth factor would
exceed ``2 ** bound`` the stored sums are *rebased*: multiplied by ``rebase_factor`` and
``t_ref`` moved forward, which leaves every value unchanged.

>>> h = 1000
>>> s = 3.0 * growth(500, 0, h) + 1.0 * growth(1500, 0, h)     # two events, stored at t_ref=0
>>> round(float(s * decay(1500 - 0, h)), 12)                               # their value at T=1500
2.5
>>> s2 = s * rebase_factor(0, 1500, h)                          # rebased to t_ref=1500
>>> round(float(s2 * decay(1500 - 1500, h)), 12)
2.5
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

__all__ = ["decay", "growth", "new_reference", "rebase_factor"]

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]


def growth(ts: int | I64, t_ref: int | I64, half_life_ms: float) -> F64:
    """``2 ** ((ts − t_ref) / h)``: the stored weight of one unit at ``ts`` (vectorised)."""
    dt = np.subtract(ts, t_ref, dtype=np.float64)
    return np.exp2(dt / float(half_life_ms))


def decay(elapsed_ms: int | float | I64 | F64, half_life_ms: float) -> F64:
    """``2 ** (−elapsed / h)``: the factor that ages a value by ``elapsed`` ms.

    Factors multiply: ``decay(a) · decay(b) == decay(a + b)``.
    """
    return np.exp2(-np.asarray(elapsed_ms, dtype=np.float64) / float(half_life_ms))


def rebase_factor(old_ref: int | I64, new_ref: int | I64, half_life_ms: float) -> F64:
    """The factor stored sums are multiplied by when ``t_ref`` moves ``old_ref → new_ref``."""
    return decay(np.subtract(new_ref, old_ref, dtype=np.float64), half_life_ms)


def new_reference(t_ref: int | I64, t_max: int | I64, half_life_ms: float, bound: float) -> I64:
    """The reference time to use before adding events up to ``t_max``.

    ``t_ref`` itself while ``(t_max − t_ref) / h <= bound``, else ``t_max`` (a rebase). A
    reference never moves backwards, so late events only ever get factors below one.
    """
    t_ref_a = np.asarray(t_ref, dtype=np.int64)
    t_max_a = np.asarray(t_max, dtype=np.int64)
    over = (t_max_a - t_ref_a).astype(np.float64) / float(half_life_ms) > bound
    return np.where(over, np.maximum(t_max_a, t_ref_a), t_ref_a).astype(np.int64)
