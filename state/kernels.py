"""Small numpy kernels for grouped data, shared by the state and the engine core.

``np.unique`` without ``return_inverse`` takes a hash-based path in numpy ≥ 2.3 that is many
times slower than sorting for large integer arrays; :func:`sorted_unique` sorts, and
:func:`unique_inverse` sorts values packed with their positions (one plain sort instead of an
``argsort``). The group kernels give, per group, the same answer as sorting by (group, value)
would, in linear time; :func:`top_within` ranks only the head of each group.

>>> sorted_unique(np.array([5, 1, 5, 3])).tolist()
[1, 3, 5]
>>> first_argmax(np.array([0, 0, 1, 1, 1]), np.array([2.0, 2.0, 1.0, 3.0, 3.0]), 2).tolist()
[0, 3]
>>> descending_within(np.array([1.0, 3.0, 3.0, 2.0, 5.0]), np.array([0, 3, 5])).tolist()
[1, 2, 0, 4, 3]
>>> [a.tolist() for a in unique_inverse(np.array([5, 1, 5, 3]), 6)]
[[1, 3, 5], [2, 0, 2, 1]]
>>> [a.tolist() for a in top_within(np.array([1.0, 3, 3, 2, 5, 0]), np.array([0, 4, 6]), 1)]
[[1, 2, 4], [0, 2, 3]]
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

__all__ = [
    "descending_within",
    "find_sorted",
    "first_argmax",
    "sorted_unique",
    "top_k_columns",
    "top_k_per_row",
    "top_within",
    "unique_inverse",
]

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]


_DENSE = 8
"""Values ``0 <= x < bound`` with ``bound <= _DENSE · len(x)`` are marked in a dense table."""


def find_sorted(keys: I64, wanted: I64) -> tuple[I64, npt.NDArray[np.bool_]]:
    """Where each of ``wanted`` is in ascending distinct ``keys``: ``(pos, hit)``; ``pos`` is
    only meaningful where ``hit`` (elsewhere it is a valid index, clipped)."""
    if len(keys) == 0:
        return np.zeros(len(wanted), np.int64), np.zeros(len(wanted), np.bool_)
    pos = np.minimum(np.searchsorted(keys, wanted), len(keys) - 1)
    hit: npt.NDArray[np.bool_] = keys[pos] == wanted
    return pos, hit


def sorted_unique(x: I64, bound: int | None = None) -> I64:
    """The distinct values of ``x``, ascending (``np.unique(x)``).

    With ``bound`` (all values in ``0..bound-1``) and few enough possible values, by marking
    them in a table of ``bound`` flags instead of sorting.
    """
    if bound is not None and bound <= _DENSE * len(x):
        seen = np.zeros(bound, np.bool_)
        seen[x] = True
        return np.flatnonzero(seen)
    s = np.sort(x)
    if len(s) == 0:
        return s
    keep = np.empty(len(s), np.bool_)
    keep[0] = True
    np.not_equal(s[1:], s[:-1], out=keep[1:])
    out: I64 = s[keep]
    return out


def unique_inverse(x: I64, bound: int) -> tuple[I64, I64]:
    """``np.unique(x, return_inverse=True)`` for values ``0 <= x < bound``.

    Few possible values: a dense table (as :func:`sorted_unique`, then each value's index).
    Else each value is packed with its position into one ``int64`` and the packs are sorted
    (``np.sort`` of integers is much faster than ``argsort``); when they do not fit, ``np.unique``.
    """
    if 0 < bound <= _DENSE * len(x):
        distinct = sorted_unique(x, bound)
        index = np.empty(bound, np.int64)
        index[distinct] = np.arange(len(distinct))
        return distinct, index[x]
    shift = max(len(x), 1).bit_length()
    if len(x) == 0 or bound.bit_length() + shift > 62:
        found, where = np.unique(x, return_inverse=True)
        return found.astype(np.int64), where.reshape(-1).astype(np.int64)
    packed = np.sort((x.astype(np.int64) << shift) | np.arange(len(x), dtype=np.int64))
    vals = packed >> shift
    start = np.empty(len(x), np.bool_)
    start[0] = True
    np.not_equal(vals[1:], vals[:-1], out=start[1:])
    inv = np.empty(len(x), np.int64)
    inv[packed & ((1 << shift) - 1)] = np.cumsum(start) - 1
    keys: I64 = vals[start]
    return keys, inv


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


def top_within(
    value: F64, seg: I64, depth: int, whole: npt.NDArray[np.bool_] | None = None
) -> tuple[I64, I64]:
    """The head of :func:`descending_within`: at least the first ``depth`` of each segment.

    Returns ``(positions, bounds)``: segment ``g``'s ranked positions are
    ``positions[bounds[g]:bounds[g+1]]``, the first places of its full ranking — every value
    above the segment's ``depth``-th largest and all those equal to it (so at least ``depth``
    of them, or the whole segment when it is shorter or ``whole[g]``); ``bounds`` is ``seg``
    itself when every segment is whole. Values must not be NaN or ``-inf``.
    """
    counts = np.diff(seg)
    width = int(counts.max(initial=0))
    if width <= depth or depth <= 0 or (whole is not None and whole.all()):
        return descending_within(value, seg), seg
    group = np.repeat(np.arange(len(counts)), counts)
    pos = np.arange(len(value)) - seg[group]
    padded = np.full((len(counts), width), np.inf)
    padded[group, pos] = -value
    cut = np.partition(padded, depth - 1, axis=1)[:, depth - 1]
    if whole is not None:
        cut[whole] = np.inf
    head = np.flatnonzero(-value <= cut[group])
    bounds = np.searchsorted(head, seg)
    out: I64 = head[descending_within(value[head], bounds)]
    return out, bounds


def top_k_columns(
    scores: npt.NDArray[np.float32], names: I64, k: int
) -> tuple[I64, npt.NDArray[np.float32]]:
    """Per row of ``scores``, its ``k`` largest columns as ``names`` (``>= 0``), best first,
    ties by the smaller name (at the ``k``-th score too: :func:`top_k_per_row`); padded with
    ``-1`` / ``-inf`` when there are fewer than ``k`` columns.

    Returns ``(names (q, k), scores (q, k))``.
    """
    q, m = scores.shape
    out_names = np.full((q, k), -1, np.int64)
    out = np.full((q, k), -np.inf, np.float32)
    if m == 0 or k == 0:
        return out_names, out
    kk = min(k, m)
    if kk == m:
        part: I64 = np.broadcast_to(np.arange(m), (q, m))
    else:
        part = np.argpartition(-scores, kk - 1, axis=1)[:, :kk]
    top = np.take_along_axis(scores, part, axis=1)
    chosen = names[part]
    order = np.lexsort((chosen, -top), axis=1)
    out_names[:, :kk] = np.take_along_axis(chosen, order, axis=1)
    out[:, :kk] = np.take_along_axis(top, order, axis=1)
    if kk < m:  # a tie at the k-th score: the partition chose among the tied at random
        tied = np.flatnonzero((scores >= top.min(axis=1, keepdims=True)).sum(axis=1) > kk)
        if len(tied):
            out_names[tied, :kk], out[tied, :kk] = top_k_per_row(
                np.broadcast_to(names, (len(tied), m)), scores[tied], kk
            )
    return out_names, out


def top_k_per_row(
    rows: I64, scores: npt.NDArray[np.float32], k: int
) -> tuple[I64, npt.NDArray[np.float32]]:
    """Per row of ``scores`` (its candidates named by ``rows``, ``-1``: none, with ``-inf``),
    the ``k`` best ``(rows, scores)``: score descending, ties by the smaller row, ``-1`` last;
    the same order as a full ``lexsort`` cut at ``k``. A partition finds the
    ``k`` first; only rows with a tie at the ``k``-th score (or fewer than ``k`` finite
    scores) sort all of theirs."""
    k = min(k, rows.shape[1])
    key = np.where(rows >= 0, rows, np.iinfo(np.int64).max)
    if k == 0 or k == rows.shape[1]:
        order = np.lexsort((key, -scores), axis=1)[:, :k]
    else:
        neg = -scores
        kth = np.partition(neg, k - 1, axis=1)[:, k - 1 : k]
        keep = neg <= kth  # the k best, more where the k-th score is shared
        exact = keep.sum(axis=1) == k
        order = np.empty((len(rows), k), np.int64)
        top = np.nonzero(keep[exact])[1].reshape(-1, k)
        sub = np.take_along_axis
        within = np.lexsort((sub(key[exact], top, 1), sub(neg[exact], top, 1)), axis=1)
        order[exact] = sub(top, within, axis=1)
        tied = ~exact
        order[tied] = np.lexsort((key[tied], neg[tied]), axis=1)[:, :k]
    return np.take_along_axis(rows, order, axis=1), np.take_along_axis(scores, order, axis=1)
