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
    """Each row over its norm (rows of norm 0 unchanged); the norm as ``np.linalg.norm``."""
    norms = np.array([np.sqrt(row.dot(row)) for row in x])
    safe = np.where(norms > 0.0, norms, 1.0)
    out: F64 = np.where((norms > 0.0)[:, None], x / safe[:, None], x)
    return out


def _shares(
    st: UserState, node_of: Mapping[str, int], alpha: float, out: F64, n_interests: int
) -> tuple[Interest, ...]:
    """Fill ``out`` (one user's node shares); return the user's top interests.

    The numbers of :meth:`state.user.UserState.category_shares` (each level's positive
    short and long masses summed in dict order), both totals in one pass per level.
    """
    beta = 1.0 - alpha
    rows: list[tuple[float, str, float, float]] = []
    for level in st.categories:
        total_s: float = 0
        total_l: float = 0
        for pair in level.values():
            if pair[0] > 0.0:
                total_s += pair[0]
            if pair[1] > 0.0:
                total_l += pair[1]
        for name, (ps, pl) in level.items():
            in_s = total_s > 0.0 and ps > 0.0
            in_l = total_l > 0.0 and pl > 0.0
            if not (in_s or in_l):
                continue
            sv = ps / total_s if in_s else 0.0
            lv = pl / total_l if in_l else 0.0
            blended = alpha * sv + beta * lv
            node = node_of.get(name)
            if node is not None:
                out[node] = blended
            rows.append((-blended, name, sv, lv))
    rows.sort()
    return tuple(Interest(n, sv, lv) for _, n, sv, lv in rows[:n_interests])


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
    ex_user: list[int] = []
    ex_row: list[int] = []
    shares = np.zeros((len(states), len(catalog.categories)))
    interests: list[tuple[Interest, ...]] = []
    for u, st in enumerate(states):
        k = min(rp.recent_items, len(st.recent_items))
        if k:
            users += [u] * k
            items += st.recent_items[-k:]
            ts += st.recent_ts[-k:]
            w += st.recent_w[-k:]
            power += range(k - 1, -1, -1)
            wm += [st.watermark] * k
        excluded: list[int] = []
        if rp.exclude_consumed:
            excluded += [r for i in st.consumed if (r := index.get(i, -1)) >= 0]
        if rp.exclude_disliked:
            excluded += [r for i in st.disliked if (r := index.get(i, -1)) >= 0]
        ex_user += [u] * len(excluded)
        ex_row += excluded
        interests.append(_shares(st, node_of, a, shares[u], rp.interests))
    rows = np.fromiter((index.get(i, -1) for i in items), np.int64, len(items))
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
        np.asarray(ex_user, np.int64),
        np.asarray(ex_row, np.int64),
        interests,
    )
