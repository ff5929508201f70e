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

_SIGNAL_NAMES = ("covis", "similar_to_interests", "category", "trending")
"""The reason of an item none of whose signals reaches ``reason_share``: the strongest."""


def _count_within(mask: B, seg: I64, user: I64) -> I64:
    """Inclusive running count of ``mask`` within each user's segment."""
    cs = np.cumsum(mask, dtype=np.int64)
    before = np.concatenate([[0], cs])[seg[:-1]]
    out: I64 = cs - before[user]
    return out


def _category_cap(s: Scored, leaf: I64, cap: int, k: int) -> I64:
    """Ranked positions (into ``s.order``) that the per-leaf cap keeps, per user in order."""
    m = len(leaf)
    user = s.user  # the same in ranked order: rankings stay within their user
    key = user * (int(leaf.max(initial=-1)) + 2) + (leaf + 1)
    o = np.argsort(key, kind="stable")
    ko = key[o]
    start = np.ones(m, np.bool_)
    start[1:] = ko[1:] != ko[:-1]
    first = np.maximum.accumulate(np.where(start, np.arange(m), 0))
    rank = np.empty(m, np.int64)
    rank[o] = np.arange(m) - first
    taken = (leaf < 0) | (rank < cap)
    total = np.bincount(user[taken], minlength=len(s.seg) - 1)
    need = np.maximum(k - total, 0)
    chosen = (taken & (_count_within(taken, s.seg, user) <= k)) | (
        ~taken & (_count_within(~taken, s.seg, user) <= need[user])
    )
    sel = np.flatnonzero(chosen)
    out: I64 = sel[np.lexsort((sel, ~taken[sel], user[sel]))]
    return out


def pick(s: Scored, catalog: Catalog, params: EngineParams) -> I64:
    """Positions in ``s`` of every user's recommended items, grouped by user, in list order."""
    rp = params.recommend
    if len(s.row) == 0:
        return np.zeros(0, np.int64)
    if rp.diversity == "category_cap":
        leaf = catalog.leaves()[s.row[s.order]]
        return s.order[_category_cap(s, leaf, rp.category_cap, rp.k)]
    if rp.diversity == "mmr":
        out: list[I64] = []
        for a, b in pairwise(s.seg.tolist()):
            if a == b:
                continue
            head = s.order[a : min(b, a + max(rp.k * 5, 50))]
            rel = s.score[head] / max(float(s.score[head].max()), 1e-12)
            out.append(head[mmr(rel, catalog.vectors[s.row[head]], rp.k, rp.mmr_lambda)])
        return np.concatenate(out) if out else np.zeros(0, np.int64)
    rank = np.arange(len(s.row)) - s.seg[s.user]
    return s.order[rank < rp.k]


def rec_items(
    s: Scored, picks: I64, shares: F64, catalog: Catalog, params: EngineParams
) -> list[tuple[RecItem, ...]]:
    """Each user's items with their reasons (``shares``: the users' node shares).

    The reasons of an item are decided in bulk (which signals are strong, in which order)
    and spelled once per distinct (pattern, co-visited source, category).
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
    spelled: dict[int, tuple[str, ...]] = {}
    items: list[RecItem] = []
    for k, r, sc, b, d in zip(
        key.tolist(), row.tolist(), score.tolist(), best.tolist(), deepest.tolist(), strict=True
    ):
        reasons = spelled.get(k)
        if reasons is None:
            reasons = spelled[k] = _spell(
                k // (n_rows * n_nodes), ids[b], names[d] if d >= 0 else ""
            )
        items.append(RecItem(ids[r], sc, reasons))
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
