"""From scored candidates (:class:`streams.core.ranking.Scored`) to the recommended lists.

Diversification per user, vectorised for the group: ``category_cap`` (walk the ranking,
take at most ``category_cap`` items per leaf category, top up with the skipped ones in order
when fewer than ``k`` remain), ``none`` (the first ``k``) or ``mmr`` (per user,
:func:`state.diversity.mmr`). Then every picked item says why it is there: each signal whose
weighted contribution is at least ``reason_share`` of the score, strongest first, else the
strongest signal alone.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from itertools import pairwise

import numpy as np
import numpy.typing as npt

from state.catalog import Catalog
from state.diversity import mmr
from streams.core.outputs import RecItem
from streams.core.params import EngineParams
from streams.core.ranking import Scored

__all__ = ["pick", "rec_items"]

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
B = npt.NDArray[np.bool_]

_SIGNAL_NAMES = ("covis", "similar_to_interests", "category", "trending")
"""The reason of an item none of whose signals reaches ``reason_share``: the strongest."""


def _count_within(mask: B, s: Scored) -> I64:
    """Inclusive running count of ``mask`` within each user's segment."""
    cs = np.cumsum(mask, dtype=np.int64)
    before = np.concatenate([[0], cs])[s.seg[:-1]]
    out: I64 = cs - before[s.user]
    return out


def _category_cap(s: Scored, leaf: I64, cap: int, k: int) -> I64:
    m = len(s.row)
    key = s.user * (int(leaf.max(initial=-1)) + 2) + (leaf + 1)
    o = np.argsort(key, kind="stable")
    ko = key[o]
    start = np.ones(m, np.bool_)
    start[1:] = ko[1:] != ko[:-1]
    first = np.maximum.accumulate(np.where(start, np.arange(m), 0))
    rank = np.empty(m, np.int64)
    rank[o] = np.arange(m) - first
    taken = (leaf < 0) | (rank < cap)
    n_users = len(s.seg) - 1
    total = np.bincount(s.user[taken], minlength=n_users)
    need = np.maximum(k - total, 0)
    chosen = (taken & (_count_within(taken, s) <= k)) | (
        ~taken & (_count_within(~taken, s) <= need[s.user])
    )
    sel = np.flatnonzero(chosen)
    out: I64 = sel[np.lexsort((sel, ~taken[sel], s.user[sel]))]
    return out


def pick(s: Scored, catalog: Catalog, params: EngineParams) -> I64:
    """Flat indices into ``s`` of every user's recommended items, grouped by user, in order."""
    rp = params.recommend
    if len(s.row) == 0:
        return np.zeros(0, np.int64)
    if rp.diversity == "category_cap":
        return _category_cap(s, catalog.leaf(s.row).astype(np.int64), rp.category_cap, rp.k)
    if rp.diversity == "mmr":
        out: list[I64] = []
        seg = s.seg.tolist()
        for a, b in pairwise(seg):
            if a == b:
                continue
            head = np.arange(a, min(b, a + max(rp.k * 5, 50)))
            rel = s.score[head] / max(float(s.score[head].max()), 1e-12)
            out.append(head[mmr(rel, catalog.vectors[s.row[head]], rp.k, rp.mmr_lambda)])
        return np.concatenate(out) if out else np.zeros(0, np.int64)
    rank = np.arange(len(s.row)) - s.seg[s.user]
    return np.flatnonzero(rank < rp.k)


def rec_items(
    s: Scored, picks: I64, shares: F64, catalog: Catalog, params: EngineParams
) -> list[tuple[RecItem, ...]]:
    """Each user's items with their reasons (``shares``: the users' node shares)."""
    w = params.weights
    weights = np.array([w.covis, w.semantic, w.category, w.trending])
    contrib = weights[:, None] * s.x[:, picks]
    score = s.score[picks]
    cut = params.recommend.reason_share * score
    strong = (contrib > 0.0) & (contrib >= cut)
    user, row = s.user[picks], s.row[picks]
    nodes = catalog.nodes[row]
    positive = (nodes >= 0) & (shares[user[:, None], np.maximum(nodes, 0)] > 0.0)
    last = nodes.shape[1] - 1 - np.argmax(positive[:, ::-1], axis=1)
    deepest = np.where(positive.any(axis=1), nodes[np.arange(len(row)), last], -1)
    strong[0] &= s.best[picks] >= 0
    strong[2] &= deepest >= 0
    ids, names = catalog.ids, catalog.categories.name
    out: list[list[RecItem]] = [[] for _ in range(len(s.seg) - 1)]
    for u, r, sc, flags, c, b, d in zip(
        user.tolist(),
        row.tolist(),
        score.tolist(),
        strong.T.tolist(),
        contrib.T.tolist(),
        s.best[picks].tolist(),
        deepest.tolist(),
        strict=True,
    ):
        out[u].append(RecItem(ids[r], sc, _reasons(flags, c, ids[b] if b >= 0 else "", d, names)))
    return [tuple(items) for items in out]


def _reasons(
    flags: Sequence[bool],
    contrib: Sequence[float],
    source: str,
    node: int,
    name: Callable[[int], str],
) -> tuple[str, ...]:
    found: list[tuple[float, str]] = []
    if flags[0]:
        found.append((contrib[0], f"covis:{source}"))
    if flags[1]:
        found.append((contrib[1], "similar_to_interests"))
    if flags[2]:
        found.append((contrib[2], f"category:{name(node)}"))
    if flags[3]:
        found.append((contrib[3], "trending"))
    if not found:
        i = int(np.argmax(contrib))
        return (_SIGNAL_NAMES[i],)
    if len(found) == 1:
        return (found[0][1],)
    return tuple(r for _, r in sorted(found, key=lambda p: -p[0]))
