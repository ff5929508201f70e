"""``EventArrays``: the applied events of a batch as numpy columns, grouped by user.

Built once per batch from the admitted events; every later step (interests, drift,
co-visitation, trending) is numpy over these columns. Users are ``0..U-1`` in the batch's
order; user ``u``'s events are ``seg[u]:seg[u+1]`` in arrival order.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from state.catalog import Catalog
from streams.core.events import Event
from streams.core.params import EngineParams

__all__ = ["EventArrays", "TypeTable", "build_arrays"]

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]

_MODES = {"none": 0, "linear": 1, "log": 2}


@dataclass(frozen=True, slots=True)
class TypeTable:
    """The event types as arrays (index = position in ``names``)."""

    index: Mapping[str, int]
    weight: F64
    collab: F64
    mode: I64
    center: F64
    scale: F64
    log_cap: F64

    @classmethod
    def of(cls, params: EngineParams) -> TypeTable:
        """The table of ``params.event_types``."""
        items = list(params.event_types.items())
        return cls(
            index={name: i for i, (name, _) in enumerate(items)},
            weight=np.array([t.weight for _, t in items]),
            collab=np.array([t.collab for _, t in items]),
            mode=np.array([_MODES[t.value] for _, t in items], np.int64),
            center=np.array([t.center for _, t in items]),
            scale=np.array([t.scale for _, t in items]),
            log_cap=np.array([math.log1p(t.cap) for _, t in items]),
        )

    def weights(self, tix: I64, value: F64) -> tuple[F64, F64]:
        """``(interest weight (signed), collaborative weight)`` per event."""
        mode = self.mode[tix]
        has = ~np.isnan(value)
        v = np.where(has, value, 0.0)
        lin = np.clip((v - self.center[tix]) / self.scale[tix], -1.0, 1.0)
        log = np.clip(np.log1p(np.maximum(v, 0.0)) / self.log_cap[tix], 0.0, 1.0)
        factor = np.where(has & (mode == 1), lin, np.where(has & (mode == 2), log, 1.0))
        return self.weight[tix] * factor, self.collab[tix].copy()


@dataclass(frozen=True, slots=True)
class EventArrays:
    """Columns of the applied events (``n``) and the user segments (``U + 1`` offsets)."""

    seg: I64
    user: I64
    ts: I64
    row: I64
    weight: F64
    collab: F64
    text: I64
    """Row in the batch's text vectors, ``-1`` when the event has no text."""

    @property
    def n(self) -> int:
        """Number of events."""
        return len(self.ts)

    @property
    def n_users(self) -> int:
        """Number of users."""
        return len(self.seg) - 1


def build_arrays(
    per_user: Sequence[Sequence[Event]],
    catalog: Catalog,
    types: TypeTable,
    text_rows: Mapping[str, int],
) -> EventArrays:
    """Columns of ``per_user`` (every inner sequence non-empty)."""
    counts = np.fromiter((len(evs) for evs in per_user), np.int64, len(per_user))
    seg = np.zeros(len(per_user) + 1, np.int64)
    np.cumsum(counts, out=seg[1:])
    evs = [e for group in per_user for e in group]
    n = len(evs)
    index = catalog.index
    ts = np.fromiter((e.ts for e in evs), np.int64, n)
    row = np.fromiter((index.get(e.item_id, -1) for e in evs), np.int64, n)
    tindex = types.index
    tix = np.fromiter((tindex[e.type] for e in evs), np.int64, n)
    nan = math.nan
    value = np.fromiter((nan if e.value is None else e.value for e in evs), np.float64, n)
    if text_rows:
        text = np.fromiter((text_rows.get(e.text, -1) if e.text else -1 for e in evs), np.int64, n)
    else:
        text = np.full(n, -1, np.int64)
    weight, collab = types.weights(tix, value)
    user = np.repeat(np.arange(len(per_user), dtype=np.int64), counts)
    return EventArrays(seg, user, ts, row, weight, collab, text)
