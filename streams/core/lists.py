"""From scored candidates (:class:`streams.core.ranking.Scored`) to the recommended lists.

Diversification per user, vectorised for the group: ``category_cap`` (walk the ranking,
take at most ``category_cap`` items per leaf category, top up with the skipped ones in order
when fewer than ``k`` remain), ``none`` (the first ``k``) or ``mmr`` (per user,
:func:`state.diversity.mmr`). Then every picked item says why it is there: each signal whose
weighted contribution is at least ``reason_share`` of the score, strongest first, else the
strongest signal alone.
"""

from __future__ import annotations

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

_CAP_DEPTH = 8
"""The category cap first ranks ``_CAP_DEPTH · k`` places of each user."""

_SIGNAL_NAMES = ("covis", "similar_to_interests", "category", "trending")
"""The reason of an item none of whose signals reaches ``reason_share``: the strongest."""


def _count_within(mask: B, seg: I64, user: I64) -> I64:
    """Inclusive running count of ``mask`` within each user's segment."""
    cs = np.cumsum(mask, dtype=np.int64)
    before = np.concatenate([[0], cs])[seg[:-1]]
    out: I64 = cs - before[user]
    return out


def _category_cap(user: I64, seg: I64, leaf: I64, cap: int, k: int) -> tuple[I64, I64]:
    """The per-leaf cap over ranked lists: ``(kept places, taken per user)``.

    ``user``/``leaf`` of each place (user ``u``'s ranking is ``seg[u]:seg[u+1]``, best first);
    the kept places are grouped by user, in list order. ``taken``: how many places of each user
    pass the cap (leaf ``-1`` always does).
    """
    m = len(leaf)
    key = user * (int(leaf.max(initial=-1)) + 2) + (leaf + 1)
    o = np.argsort(key, kind="stable")
    ko = key[o]
    start = np.ones(m, np.bool_)
    start[1:] = ko[1:] != ko[:-1]
    first = np.maximum.accumulate(np.where(start, np.arange(m), 0))
    rank = np.empty(m, np.int64)
    rank[o] = np.arange(m) - first
    taken = (leaf < 0) | (rank < cap)
    total = np.bincount(user[taken], minlength=len(seg) - 1)
    need = np.maximum(k - total, 0)
    chosen = (taken & (_count_within(taken, seg, user) <= k)) | (
        ~taken & (_count_within(~taken, seg, user) <= need[user])
    )
    sel = np.flatnonzero(chosen)
    out: I64 = sel[np.lexsort((sel, ~taken[sel], user[sel]))]
    return out, total


def pick(s: Scored, catalog: Catalog, params: EngineParams) -> I64:
    """Positions in ``s`` of every user's recommended items, grouped by user, in list order.

    Only the head of each ranking is sorted (:meth:`Scored.ranking`): ``k`` places, ``mmr``'s
    window, or for the cap ``_CAP_DEPTH · k`` places (then the whole ranking of the users
    whose head has fewer than ``k`` places that pass the cap).
    """
    rp = params.recommend
    if len(s.row) == 0:
        return np.zeros(0, np.int64)
    if rp.diversity == "category_cap":
        order, bounds = s.ranking(_CAP_DEPTH * rp.k)
        user = s.user[order]
        kept, taken = _category_cap(
            user, bounds, catalog.leaves()[s.row[order]], rp.category_cap, rp.k
        )
        if bounds is not s.seg and np.any((taken < rp.k) & (np.diff(bounds) < np.diff(s.seg))):
            order, bounds = s.ranking(len(s.row))
            user = s.user[order]
            kept, _ = _category_cap(
                user, bounds, catalog.leaves()[s.row[order]], rp.category_cap, rp.k
            )
        return order[kept]
    if rp.diversity == "mmr":
        window = max(rp.k * 5, 50)
        order, bounds = s.ranking(window)
        out: list[I64] = []
        for a, b in pairwise(bounds.tolist()):
            if a == b:
                continue
            head = order[a : min(b, a + window)]
            rel = s.score[head] / max(float(s.score[head].max()), 1e-12)
            out.append(head[mmr(rel, catalog.vectors[s.row[head]], rp.k, rp.mmr_lambda)])
        return np.concatenate(out) if out else np.zeros(0, np.int64)
    order, bounds = s.ranking(rp.k)
    user = s.user[order]
    return order[np.arange(len(order)) - bounds[user] < rp.k]


def rec_items(
    s: Scored,
    picks: I64,
    shares: F64,
    catalog: Catalog,
    params: EngineParams,
    *,
    spelled: dict[int, tuple[str, ...]] | None = None,
) -> list[tuple[RecItem, ...]]:
    """Each user's items with their reasons (``shares``: the users' node shares).

    The reasons of an item are decided in bulk (which signals are strong, in which order)
    and spelled once per distinct (pattern, co-visited source, category); ``spelled`` keeps
    them across calls while the catalog's rows and categories stay the same.
    """
    w = params.weights
    weights = np.array([w.covis, w.semantic, w.category, w.trending])
    contrib = weights[:, None] * s.x[:, picks]
    score = s.score[picks]
    strong = (contrib > 0.0) & (contrib >= params.recommend.reason_share * score)
    user, row, best = s.user[picks], s.row[picks], s.best[picks]
    nodes = catalog.nodes[row]
    positive = (nodes >= 0) & (shares[user[:, None], np.maximum(nodes, 0)] > 0.0)
    last = nodes.shape[1] - 1 - np.argmax(positive[:, ::-1], axis=1)
    deepest = np.where(positive.any(axis=1), nodes[np.arange(len(row)), last], -1)
    strong[0] &= best >= 0
    strong[2] &= deepest >= 0
    # the strong signals by contribution (ties: signal order), as base-5 digits 1..4
    ranked = np.argsort(np.where(strong, -contrib, np.inf), axis=0, kind="stable")
    digits = np.where(np.arange(4)[:, None] < strong.sum(axis=0), ranked + 1, 0)
    code = (digits * (5 ** np.arange(4))[:, None]).sum(axis=0)
    code = np.where(code > 0, code, 1000 + np.argmax(contrib, axis=0))
    n_rows, n_nodes = len(catalog) + 1, len(catalog.categories) + 1
    src = np.where(strong[0], best, -1) + 1
    cat = np.where(strong[2], deepest, -1) + 1
    key = (code * n_rows + src) * n_nodes + cat
    ids, names = catalog.ids, catalog.categories.names
    distinct, first, which = np.unique(key, return_index=True, return_inverse=True)
    cache: dict[int, tuple[str, ...]] = {} if spelled is None else spelled
    reasons: list[tuple[str, ...]] = []
    for k, b, d in zip(
        distinct.tolist(), best[first].tolist(), deepest[first].tolist(), strict=True
    ):
        r = cache.get(k)
        if r is None:
            r = cache[k] = _spell(k // (n_rows * n_nodes), ids[b], names[d] if d >= 0 else "")
        reasons.append(r)
    items = list(
        map(
            RecItem,
            map(ids.__getitem__, row.tolist()),
            score.tolist(),
            map(reasons.__getitem__, which.reshape(-1).tolist()),
        )
    )
    bounds = np.searchsorted(user, np.arange(len(s.seg))).tolist()
    return [tuple(items[a:b]) for a, b in pairwise(bounds)]


def _spell(code: int, source: str, category: str) -> tuple[str, ...]:
    """The reasons of a pattern ``code`` (see :func:`rec_items`)."""
    if code >= 1000:
        return (_SIGNAL_NAMES[code - 1000],)
    out: list[str] = []
    while code:
        sig = code % 5 - 1
        code //= 5
        if sig == 0:
            out.append(f"covis:{source}")
        elif sig == 2:
            out.append(f"category:{category}")
        else:
            out.append(_SIGNAL_NAMES[sig])
    return tuple(out)
