"""Small numpy kernels for grouped data, shared by the state and the engine core.

``np.unique`` without ``return_inverse`` takes a hash-based path in numpy ≥ 2.3 that is many
times slower than sorting for large integer arrays; :func:`sorted_unique` sorts. The group
kernels give, per group, the same answer as sorting by (group, value) would, in linear time.

>>> sorted_unique(np.array([5, 1, 5, 3])).tolist()
[1, 3, 5]
>>> first_argmax(np.array([0, 0, 1, 1, 1]), np.array([2.0, 2.0, 1.0, 3.0, 3.0]), 2).tolist()
[0, 3]
>>> descending_within(np.array([1.0, 3.0, 3.0, 2.0, 5.0]), np.array([0, 3, 5])).tolist()
[1, 2, 0, 4, 3]
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

__all__ = ["descending_within", "first_argmax", "sorted_unique"]

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]


def sorted_unique(x: I64) -> I64:
    """The distinct values of ``x``, ascending (``np.unique(x)``)."""
    s = np.sort(x)
    if len(s) == 0:
        return s
    keep = np.empty(len(s), np.bool_)
    keep[0] = True
    np.not_equal(s[1:], s[:-1], out=keep[1:])
    out: I64 = s[keep]
    return out


def first_argmax(group: I64, value: F64, n_groups: int) -> I64:
    """Per group ``0..n_groups-1``: the first index holding the group's largest ``value``.

    Groups without elements get ``len(value)``. Equal to taking, per group, the first element
    of ``np.lexsort((-value, group))``.
    """
    top = np.full(n_groups, -np.inf)
    np.maximum.at(top, group, value)
    at_top = np.flatnonzero(value == top[group])
    first = np.full(n_groups, len(value), np.int64)
    np.minimum.at(first, group[at_top], at_top)
    return first


def descending_within(value: F64, seg: I64) -> I64:
    """Positions sorted by segment, then ``value`` descending, then position.

    Segment ``g`` is ``seg[g]:seg[g+1]`` (``seg`` ascending, from 0 to ``len(value)``); the
    same order as ``np.lexsort((position, -value, segment))``, sorted one padded row per
    segment (much faster than a three-key ``lexsort``). Values must not be NaN or ``-inf``.
    """
    counts = np.diff(seg)
    width = int(counts.max(initial=0))
    group = np.repeat(np.arange(len(counts)), counts)
    pos = np.arange(len(value)) - seg[group]
    padded = np.full((len(counts), width), np.inf)
    padded[group, pos] = -value
    order = np.argsort(padded, axis=1, kind="stable") + seg[:-1, None]
    out: I64 = order[np.arange(width) < counts[:, None]]
    return out
