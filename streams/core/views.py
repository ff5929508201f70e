"""What scoring needs of a group of users, gathered once (:class:`GroupViews`).

For users ``0..C-1`` (warm: at least one event): the query vector
θ = α·ŝhort + (1 − α)·l̂ong, the remembered recent items that are in the catalog with their
recency weights ρ (position decay times age relative to the user's newest event), the blended
category shares per catalog node, the rows to exclude (consumed, disliked) and the top
interests. Flat arrays carry a ``user`` column; within a user they keep the state's order.
Every number is computed with the same operations, in the same order, as for one user alone.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import chain, pairwise, repeat

import numpy as np
import numpy.typing as npt

from state.catalog import Catalog
from state.user import UserState
from streams.core.outputs import Interest
from streams.core.params import EngineParams

__all__ = ["GroupViews", "group_views"]

F64 = npt.NDArray[np.float64]
F32 = npt.NDArray[np.float32]
I64 = npt.NDArray[np.int64]


@dataclass(frozen=True, slots=True)
class GroupViews:
    """The scoring views of ``C`` users (see the module docstring)."""

    theta: F32
    """``(C, dim)``."""
    recent_user: I64
    recent_row: I64
    rho: F64
    shares: F64
    """``(C, categories)``: α·short share + (1 − α)·long share of each node at its level."""
    excluded_user: I64
    excluded_row: I64
    interests: list[tuple[Interest, ...]]


def _unit_rows(x: F64) -> F64:
    """Each row over its norm (rows of norm 0 unchanged); the norm as ``np.linalg.norm``.

    ``np.vecdot`` of a contiguous row with itself is the same BLAS ``dot`` as ``row.dot(row)``.
    """
    norms = np.sqrt(np.vecdot(x, x))
    safe = np.where(norms > 0.0, norms, 1.0)
    out: F64 = np.where((norms > 0.0)[:, None], x / safe[:, None], x)
    return out


def _shares(
    states: Sequence[UserState], node_of: Mapping[str, int], alpha: float, out: F64, top: int
) -> list[tuple[Interest, ...]]:
    """Fill ``out`` (``(C, nodes)``, the users' node shares); return each user's top interests.

    The numbers of :meth:`state.user.UserState.category_shares`: each (user, level)'s positive
    short and long masses summed in dict order (``bincount`` adds in input order), then each
    node's shares and their blend α·short + (1 − α)·long. The interests of a user are its
    nodes by (−blend, name, short, long), as sorting those tuples would order them.
    """
    names: list[str] = []
    pairs: list[Sequence[float]] = []
    sizes: list[int] = []
    for st in states:
        for level in st.categories:
            names += level
            pairs += level.values()
            sizes.append(len(level))
    levels = [len(st.categories) for st in states]
    user = np.repeat(np.repeat(np.arange(len(states)), levels), sizes)
    group = np.repeat(np.arange(len(sizes)), sizes)
    ps, pl = np.fromiter(chain.from_iterable(pairs), np.float64, 2 * len(pairs)).reshape(-1, 2).T
    pos_s, pos_l = ps > 0.0, pl > 0.0
    total_s = np.bincount(group, np.where(pos_s, ps, 0.0), len(sizes))[group]
    total_l = np.bincount(group, np.where(pos_l, pl, 0.0), len(sizes))[group]
    in_s = (total_s > 0.0) & pos_s
    in_l = (total_l > 0.0) & pos_l
    sv = np.where(in_s, ps / np.where(in_s, total_s, 1.0), 0.0)
    lv = np.where(in_l, pl / np.where(in_l, total_l, 1.0), 0.0)
    blended = alpha * sv + (1.0 - alpha) * lv
    keep = np.flatnonzero(in_s | in_l)
    node = np.fromiter(map(node_of.get, names, repeat(-1)), np.int64, len(names))
    at = keep[node[keep] >= 0]
    out[user[at], node[at]] = blended[at]
    distinct = sorted(set(names))
    rank_of = dict(zip(distinct, range(len(distinct)), strict=True))
    rank = np.fromiter(map(rank_of.__getitem__, names), np.int64, len(names))
    order = keep[np.lexsort((lv[keep], sv[keep], rank[keep], -blended[keep], user[keep]))]
    first = np.searchsorted(user[order], np.arange(len(states) + 1))
    order = order[np.arange(len(order)) - first[user[order]] < top]
    bounds = np.searchsorted(user[order], np.arange(len(states) + 1)).tolist()
    made = list(
        map(Interest, [names[i] for i in order.tolist()], sv[order].tolist(), lv[order].tolist())
    )
    return [tuple(made[a:b]) for a, b in pairwise(bounds)]


def group_views(states: Sequence[UserState], catalog: Catalog, params: EngineParams) -> GroupViews:
    """The views of ``states`` (each with at least one event)."""
    rp = params.recommend
    a = rp.alpha
    short = _unit_rows(np.stack([st.short for st in states]))
    long = _unit_rows(np.stack([st.long for st in states]))
    theta = (a * short + (1.0 - a) * long).astype(np.float32)
    index = catalog.index
    node_of = catalog.categories.ids
    users: list[int] = []
    items: list[str] = []
    ts: list[int] = []
    w: list[float] = []
    power: list[int] = []
    wm: list[int] = []
    excluded: list[str] = []
    ex_count: list[int] = []
    for u, st in enumerate(states):
        k = min(rp.recent_items, len(st.recent_items))
        if k:
            users += [u] * k
            items += st.recent_items[-k:]
            ts += st.recent_ts[-k:]
            w += st.recent_w[-k:]
            power += range(k - 1, -1, -1)
            wm += [st.watermark] * k
        before = len(excluded)
        if rp.exclude_consumed:
            excluded += st.consumed
        if rp.exclude_disliked:
            excluded += st.disliked
        ex_count.append(len(excluded) - before)
    shares = np.zeros((len(states), len(catalog.categories)))
    interests = _shares(states, node_of, a, shares, rp.interests)
    rows = np.fromiter(map(index.get, items, repeat(-1)), np.int64, len(items))
    ex_row = np.fromiter(map(index.get, excluded, repeat(-1)), np.int64, len(excluded))
    ex_user = np.repeat(np.arange(len(states), dtype=np.int64), ex_count)
    ex_ok = ex_row >= 0
    pos = np.power(rp.recent_position_decay, np.asarray(power, np.int64))
    age = np.exp2(
        -(np.asarray(wm, np.int64) - np.asarray(ts, np.float64)) / params.decay.short_half_life_ms
    )
    rho = np.asarray(w, np.float64) * pos * age
    ok = rows >= 0
    return GroupViews(
        theta,
        np.asarray(users, np.int64)[ok],
        rows[ok],
        rho[ok],
        shares,
        ex_user[ex_ok],
        ex_row[ex_ok],
        interests,
    )
