"""Admission: which valid events of a batch are applied, per user, in arrival order.

Per user, sequentially (so the outcome does not depend on how events are cut into batches or
on how different users' events interleave):

1. *Duplicates* (counted, never applied): a message at or below the user's offset mark for
   its ``topic/partition``, or an ``event_id`` in the user's recent-id window or earlier in
   the batch.
2. ``future_ts``: ``ts > now_ms + limits.future_bound_ms``, where ``now_ms`` is the caller's
   clock (the worker's and replay's wall clock; ``None`` skips the check). A wall clock is the
   only reference that is independent of partitioning: a watermark-based bound would accept
   or reject the same event differently depending on which partitions a worker owns.
3. ``too_late``: ``ts < user watermark − limits.allowed_lateness_ms`` (the user's own
   watermark: the newest event time applied for that user).
4. ``unknown_item``: the item is neither known to the catalog nor inline in the event (unless
   ``accept_unknown_items``).

The rules run on columns (:mod:`streams.core.admission_rules`); only users with a repeated
``event_id`` inside the batch take the literal per-event loop. Nothing is mutated here;
:func:`commit_marks` records ids and offsets after the math ran.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import islice

import numpy as np
import numpy.typing as npt

from state.store import UserStore
from state.user import UserState
from streams.core.admission_rules import Verdicts, offset_duplicates, verdicts
from streams.core.columns import EventColumns
from streams.core.messages import Message
from streams.core.outputs import Rejection
from streams.core.params import EngineParams

__all__ = ["Admission", "admit", "commit_marks"]

I64 = npt.NDArray[np.int64]
B = npt.NDArray[np.bool_]


@dataclass(slots=True)
class Admission:
    """The batch's users (first-appearance order) and the events to apply.

    ``order``: column positions of the applied events, grouped by user (in ``states`` order),
    arrival order within a user; ``user``: each one's index into ``states``.
    """

    states: list[UserState]
    is_new: list[bool]
    marks: list[dict[str, int] | None]
    """The users' new offset marks (``None``: no message with a Kafka position)."""
    order: I64
    user: I64
    rejections: list[Rejection]
    duplicates: int


def admit(
    cols: EventColumns,
    messages: Sequence[Message],
    store: UserStore,
    new_state: Callable[[str], UserState],
    params: EngineParams,
    *,
    known: B,
    now_ms: int | None,
) -> Admission:
    """Group ``cols`` by user and admit. ``known[j]``: event ``j``'s item is known or inline."""
    first = dict(zip(dict.fromkeys(cols.user_id), itertools.count()))
    code_list = list(map(first.__getitem__, cols.user_id))
    states: list[UserState] = []
    is_new: list[bool] = []
    for uid in first:
        st = store.get(uid)
        is_new.append(st is None)
        states.append(new_state(uid) if st is None else st)
    code = np.asarray(code_list, np.int64)
    offdup, marks = offset_duplicates(cols, messages, states, code_list)
    v = verdicts(cols, states, code_list, offdup=offdup, known=known, params=params, now_ms=now_ms)
    rejections = _rejections(v, cols, messages, params, now_ms)
    adm = v.admitted
    order = np.flatnonzero(adm[v.order])
    positions = v.order[order]
    return Admission(
        states, is_new, marks, positions, code[positions], rejections, int(v.duplicate.sum())
    )


def _rejections(
    v: Verdicts,
    cols: EventColumns,
    messages: Sequence[Message],
    params: EngineParams,
    now_ms: int | None,
) -> list[Rejection]:
    """The rejected events' records, grouped by user then in arrival order."""
    limits = params.limits
    out: list[Rejection] = []
    bad = v.future | v.too_late | v.unknown
    for j in v.order[bad[v.order]].tolist():
        msg = messages[cols.msg[j]]
        ts = cols.ts[j]
        if v.future[j]:
            reason = "future_ts"
            detail = f"ts {ts} > now {now_ms} + {limits.future_bound_ms}"
        elif v.too_late[j]:
            reason = "too_late"
            detail = (
                f"ts {ts} < user watermark {int(v.watermark[j])} - {limits.allowed_lateness_ms}"
            )
        else:
            reason = "unknown_item"
            detail = f"item {cols.item_id[j]!r} is not in the catalog"
        out.append(Rejection(reason, detail, msg.value, msg.topic, msg.partition, msg.offset))
    return out


def commit_marks(
    state: UserState, marks: dict[str, int] | None, event_ids: Sequence[str], window: int
) -> None:
    """Record a user's offset marks and applied event ids (bounded FIFO window)."""
    if marks is not None:
        state.offsets = marks
    ids = state.event_ids
    for eid in event_ids:
        ids[eid] = None
    excess = len(ids) - window
    if excess > 0:
        for key in list(islice(ids, excess)):
            del ids[key]
