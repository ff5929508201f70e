"""Collaborative signals shared by all users: ``Signals`` and its additive ``SignalDeltas``.

A batch produces *deltas* (co-visitation pairs and popularity increments, stored at the
deltas' reference time ``t_ref``); applying deltas is addition (then top-M pruning), so several
workers converge by exchanging them: each publishes its deltas and applies everyone's.
Deltas name items by id (rows are process-local).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from state.catalog import Catalog
from state.covisitation import CoVisitation
from state.trending import Trending

__all__ = ["SignalDeltas", "SignalTotals", "Signals"]

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
I32 = npt.NDArray[np.int32]


@dataclass(frozen=True, slots=True, eq=False)
class SignalDeltas:
    """Additive increments: ``items`` named once, the arrays index into it.

    ``pop_w`` is stored at ``t_ref`` with the trending half-life, ``pair_w`` with the
    co-visitation half-life; ``pair_a → pair_b`` is directed (both directions are listed).
    """

    t_ref: int = 0
    items: tuple[str, ...] = ()
    pop_item: I64 = field(default_factory=lambda: np.zeros(0, np.int64))
    pop_w: F64 = field(default_factory=lambda: np.zeros(0))
    pair_a: I64 = field(default_factory=lambda: np.zeros(0, np.int64))
    pair_b: I64 = field(default_factory=lambda: np.zeros(0, np.int64))
    pair_w: F64 = field(default_factory=lambda: np.zeros(0))

    def __len__(self) -> int:
        return len(self.pop_item) + len(self.pair_a)

    def to_json(self) -> bytes:
        """Compact JSON (the worker publishes it; floats keep full precision)."""
        return json.dumps(
            {
                "t_ref": self.t_ref,
                "items": list(self.items),
                "pop_item": self.pop_item.tolist(),
                "pop_w": self.pop_w.tolist(),
                "pair_a": self.pair_a.tolist(),
                "pair_b": self.pair_b.tolist(),
                "pair_w": self.pair_w.tolist(),
            },
            separators=(",", ":"),
        ).encode()

    @classmethod
    def from_json(cls, data: bytes | str) -> SignalDeltas:
        """Parse what :meth:`to_json` wrote (``ValueError``/``KeyError`` when malformed)."""
        o = json.loads(data)
        n = len(o["items"])
        d = cls(
            t_ref=int(o["t_ref"]),
            items=tuple(str(i) for i in o["items"]),
            pop_item=np.asarray(o["pop_item"], np.int64),
            pop_w=np.asarray(o["pop_w"], np.float64),
            pair_a=np.asarray(o["pair_a"], np.int64),
            pair_b=np.asarray(o["pair_b"], np.int64),
            pair_w=np.asarray(o["pair_w"], np.float64),
        )
        idx = np.concatenate([d.pop_item, d.pair_a, d.pair_b])
        if len(idx) and (idx.min() < 0 or idx.max() >= n):
            raise ValueError("signal deltas: item index out of range")
        if len(d.pop_item) != len(d.pop_w) or not len(d.pair_a) == len(d.pair_b) == len(d.pair_w):
            raise ValueError("signal deltas: array lengths differ")
        return d


@dataclass(frozen=True, slots=True, eq=False)
class SignalTotals:
    """Everything :class:`Signals` holds, by item id (a checkpoint's content).

    Row ``i`` is item ``items[i]``: its decayed popularity ``pop``, co-visitation degree
    ``deg`` and ranked neighbours ``nbr`` (indices into ``items``, ``-1``: empty) with their
    weights ``w``; the sums are stored at ``covis_t_ref`` / ``trending_t_ref`` (``None``:
    nothing added yet). Items with nothing to hold are left out.
    """

    items: tuple[str, ...]
    covis_t_ref: int | None
    trending_t_ref: int | None
    nbr: I32
    w: F64
    deg: F64
    pop: F64


class Signals:
    """Co-visitation and trending over the catalog's rows."""

    def __init__(
        self,
        covis_half_life_ms: float,
        max_neighbors: int,
        trending_half_life_ms: float,
        rebase_exponent: float = 60.0,
    ) -> None:
        self.covis = CoVisitation(covis_half_life_ms, max_neighbors, rebase_exponent)
        self.trending = Trending(trending_half_life_ms, rebase_exponent)

    def apply_rows(
        self, t_ref: int, *, pop_rows: I64, pop_w: F64, pair_a: I64, pair_b: I64, pair_w: F64
    ) -> None:
        """Apply increments addressed by this process's catalog rows."""
        self.trending.add(t_ref, pop_rows, pop_w)
        self.covis.add(t_ref, pair_a, pair_b, pair_w)

    def apply(self, deltas: SignalDeltas, catalog: Catalog) -> None:
        """Apply deltas addressed by item id (unknown items get placeholder rows)."""
        rows = catalog.ensure_rows(deltas.items)
        self.apply_rows(
            deltas.t_ref,
            pop_rows=rows[deltas.pop_item],
            pop_w=deltas.pop_w,
            pair_a=rows[deltas.pair_a],
            pair_b=rows[deltas.pair_b],
            pair_w=deltas.pair_w,
        )

    def totals(self, catalog: Catalog) -> SignalTotals:
        """A copy of everything held, by item id (:meth:`load` restores it)."""
        n = len(catalog)
        cv, tr = self.covis, self.trending
        cv.grow(n)
        tr.grow(n)
        nbr, deg, pop = cv.nbr[:n], cv.deg[:n], tr.pop[:n]
        used = (deg != 0.0) | (pop != 0.0) | (nbr >= 0).any(axis=1)
        named = nbr[used]
        used[named[named >= 0]] = True  # every neighbour is named too
        rows = np.flatnonzero(used)
        index = np.full(n + 1, -1, np.int32)  # index[-1]: an empty slot stays -1
        index[rows] = np.arange(len(rows), dtype=np.int32)
        ids = catalog.ids
        return SignalTotals(
            items=tuple(ids[r] for r in rows.tolist()),
            covis_t_ref=cv.t_ref,
            trending_t_ref=tr.t_ref,
            nbr=index[nbr[rows]],
            w=cv.w[rows].copy(),
            deg=deg[rows].copy(),
            pop=pop[rows].copy(),
        )

    def load(self, totals: SignalTotals, catalog: Catalog) -> None:
        """Replace everything held with ``totals`` (items unknown to ``catalog`` get
        placeholder rows). Neighbours beyond this instance's ``max_neighbors`` are cut
        (they are ranked), missing ones stay empty."""
        rows = catalog.ensure_rows(totals.items)
        n = len(catalog)
        cv, tr = self.covis, self.trending
        cv.grow(n)
        tr.grow(n)
        cv.nbr[:] = -1
        cv.w[:] = 0.0
        cv.deg[:] = 0.0
        tr.pop[:] = 0.0
        m = min(cv.m, totals.nbr.shape[1]) if totals.nbr.ndim == 2 else 0
        nbr = totals.nbr[:, :m]
        has = nbr >= 0
        cv.nbr[rows, :m] = np.where(has, rows[np.where(has, nbr, 0)] if len(rows) else -1, -1)
        cv.w[rows, :m] = np.where(has, totals.w[:, :m], 0.0)
        cv.deg[rows] = totals.deg
        tr.pop[rows] = totals.pop
        cv.t_ref, tr.t_ref = totals.covis_t_ref, totals.trending_t_ref

    def forget(self, row: int) -> None:
        """Drop a deleted item's row from both signals."""
        self.covis.forget(row)
        self.trending.forget(row)
