"""A batch's collaborative increments: co-visitation pairs and trending, as ``SignalDeltas``.

Co-visitation: each applied event is paired with the previous ``covis.window_events`` events
of the same user (the remembered recent items first, then the batch's, in arrival order)
that are at most ``covis.window_ms`` apart, with weight
``sqrt(collab_a · collab_b) · 2^(−|Δt| / gap_half_life)``, stored at the batch's reference time
at the pair's later event time, in both directions. Same-item pairs and zero collaborative
weights (``dislike``) are skipped. Trending: each event adds its collaborative weight.

An event whose increments were published before (redelivered after a crash, ``fresh``
false) adds no trending weight again, and a pair counts only if one of its events is fresh
(two such events were paired when their batch was published, in whichever order they came;
a fresh one was not). The order may differ after a crash across a user's topics.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import repeat

import numpy as np
import numpy.typing as npt

from state.catalog import Catalog
from state.kernels import sorted_unique
from state.signals import SignalDeltas
from state.user import UserState
from streams.core.arrays import EventArrays
from streams.core.params import EngineParams

__all__ = ["RowDeltas", "collab_deltas"]

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
B = npt.NDArray[np.bool_]


@dataclass(frozen=True, slots=True)
class RowDeltas:
    """Increments addressed by catalog rows (this process); ``to_ids`` names them."""

    t_ref: int
    pop_rows: I64
    pop_w: F64
    pair_a: I64
    pair_b: I64
    pair_w: F64

    def to_ids(self, catalog: Catalog) -> SignalDeltas:
        """The same increments addressed by item id (for other workers)."""
        rows = np.concatenate([self.pop_rows, self.pair_a, self.pair_b])
        uniq = sorted_unique(rows)
        place = np.zeros(int(uniq[-1]) + 1 if len(uniq) else 0, np.int64)
        place[uniq] = np.arange(len(uniq))
        ids = catalog.ids
        return SignalDeltas(
            t_ref=self.t_ref,
            items=tuple(ids[r] for r in uniq.tolist()),
            pop_item=place[self.pop_rows],
            pop_w=self.pop_w,
            pair_a=place[self.pair_a],
            pair_b=place[self.pair_b],
            pair_w=self.pair_w,
        )


def _sequences(
    ea: EventArrays,
    states: Sequence[UserState],
    catalog: Catalog,
    window: int,
    fresh: npt.NDArray[np.bool_] | None,
) -> tuple[I64, I64, I64, F64, B, B]:
    """``(user, row, ts, collab, is_new, is_fresh)`` of history tails followed by the batch
    events (``is_new``: a batch event; ``is_fresh``: one whose increments count)."""
    h_user: list[int] = []
    h_item: list[str] = []
    h_ts: list[int] = []
    h_w: list[float] = []
    for u, st in enumerate(states):
        k = min(window, len(st.recent_items))
        if k:
            h_user += [u] * k
            h_item += st.recent_items[-k:]
            h_ts += st.recent_ts[-k:]
            h_w += st.recent_w[-k:]
    h_row = np.fromiter(map(catalog.index.get, h_item, repeat(-1)), np.int64, len(h_item))
    user = np.concatenate([np.asarray(h_user, np.int64), ea.user])
    order = np.argsort(user, kind="stable")
    row = np.concatenate([h_row, ea.row])[order]
    ts = np.concatenate([np.asarray(h_ts, np.int64), ea.ts])[order]
    w = np.concatenate([np.asarray(h_w, np.float64), ea.collab])[order]
    new = np.concatenate([np.zeros(len(h_user), np.bool_), np.ones(ea.n, np.bool_)])[order]
    batch = np.ones(ea.n, np.bool_) if fresh is None else fresh
    is_fresh = np.concatenate([np.zeros(len(h_user), np.bool_), batch])[order]
    return user[order], row, ts, w, new, is_fresh


def collab_deltas(
    ea: EventArrays,
    states: Sequence[UserState],
    catalog: Catalog,
    params: EngineParams,
    fresh: npt.NDArray[np.bool_] | None = None,
) -> RowDeltas:
    """Co-visitation and trending increments of the batch (states: before the batch);
    ``fresh``: per event, whether its increments count (``None``: all do)."""
    cp, tp = params.covis, params.trending
    t_ref = int(ea.ts.max())
    ok = (ea.row >= 0) & (ea.collab > 0.0)
    if fresh is not None:
        ok &= fresh
    pop_rows = ea.row[ok]
    pop_w = ea.collab[ok] * np.exp2((ea.ts[ok] - t_ref) / tp.half_life_ms)
    user, row, ts, w, new, is_fresh = _sequences(ea, states, catalog, cp.window_events, fresh)
    p = np.flatnonzero(new)
    a_parts: list[I64] = []
    b_parts: list[I64] = []
    w_parts: list[F64] = []
    for lag in range(1, cp.window_events + 1):
        q = p - lag
        valid = q >= 0
        pv, qv = p[valid], q[valid]
        dt = np.abs(ts[pv] - ts[qv])
        keep = (
            (user[qv] == user[pv])
            & (row[pv] >= 0)
            & (row[qv] >= 0)
            & (row[pv] != row[qv])
            & (w[pv] > 0.0)
            & (w[qv] > 0.0)
            & (dt <= cp.window_ms)
            & (is_fresh[pv] | is_fresh[qv])
        )
        pv, qv, dt = pv[keep], qv[keep], dt[keep]
        later = np.maximum(ts[pv], ts[qv])
        weight = (
            np.sqrt(w[pv] * w[qv])
            * np.exp2(-dt / cp.gap_half_life_ms)
            * np.exp2((later - t_ref) / cp.half_life_ms)
        )
        a_parts += [row[pv], row[qv]]
        b_parts += [row[qv], row[pv]]
        w_parts += [weight, weight]
    return RowDeltas(
        t_ref,
        pop_rows,
        pop_w,
        np.concatenate(a_parts) if a_parts else np.zeros(0, np.int64),
        np.concatenate(b_parts) if b_parts else np.zeros(0, np.int64),
        np.concatenate(w_parts) if w_parts else np.zeros(0),
    )
