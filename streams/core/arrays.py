"""``EventArrays``: the applied events of a batch as numpy columns, grouped by user.

Built once per batch from the admitted events' columns (:mod:`streams.core.columns`); every
later step (interests, drift, co-visitation, trending) is numpy over these columns. Users are
``0..U-1`` in the batch's order; user ``u``'s events are ``seg[u]:seg[u+1]`` in arrival order.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from streams.core.columns import EventColumns
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
    cols: EventColumns,
    positions: I64,
    user: I64,
    *,
    rows: I64,
    types: TypeTable,
    text_rows: Mapping[str, int],
) -> tuple[EventArrays, I64]:
    """Columns of the applied events ``positions`` (grouped by ``user``, ascending).

    ``rows``: each column position's catalog row. Returns ``(arrays, users)``: the arrays'
    user ``u`` is ``users[u]`` (an index into the admission's states).
    """
    users, local = np.unique(user, return_inverse=True)
    local = local.reshape(-1).astype(np.int64)
    seg = np.zeros(len(users) + 1, np.int64)
    np.cumsum(np.bincount(local, minlength=len(users)), out=seg[1:])
    tix = np.asarray(cols.type, np.int64)[positions]
    value = np.asarray(cols.value, np.float64)[positions]
    text = np.full(len(cols), -1, np.int64)
    for j, t in cols.text.items():
        if t:
            text[j] = text_rows[t]
    weight, collab = types.weights(tix, value)
    ts = np.asarray(cols.ts, np.int64)[positions]
    return EventArrays(seg, local, ts, rows[positions], weight, collab, text[positions]), users
