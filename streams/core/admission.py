"""Admission: which parsed events of a batch are applied, per user, in arrival order.

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

Nothing is mutated here; :func:`commit_marks` records ids and offsets after the math ran.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from state.store import UserStore
from state.user import UserState
from streams.core.events import Event
from streams.core.messages import Message
from streams.core.outputs import Rejection
from streams.core.params import EngineParams

__all__ = ["UserBatch", "admit", "commit_marks"]


@dataclass(slots=True)
class UserBatch:
    """One user's part of a batch: the state, the events to apply, the marks to record."""

    state: UserState
    is_new: bool
    events: list[Event] = field(default_factory=list)
    marks: dict[str, int] = field(default_factory=dict)


def admit(
    parsed: Sequence[tuple[Event, Message]],
    store: UserStore,
    new_state: Callable[[str], UserState],
    params: EngineParams,
    *,
    known: Callable[[str], bool],
    now_ms: int | None,
) -> tuple[list[UserBatch], list[Rejection], int]:
    """Group ``parsed`` by user and admit; ``(user batches, rejections, duplicates)``."""
    groups: dict[str, list[tuple[Event, Message]]] = {}
    for pair in parsed:
        groups.setdefault(pair[0].user_id, []).append(pair)
    limits = params.limits
    future = None if now_ms is None else now_ms + limits.future_bound_ms
    lateness = limits.allowed_lateness_ms
    accept_unknown = params.accept_unknown_items
    out: list[UserBatch] = []
    rejections: list[Rejection] = []
    duplicates = 0
    for user_id, pairs in groups.items():
        state = store.get(user_id)
        ub = UserBatch(new_state(user_id) if state is None else state, state is None)
        st = ub.state
        ub.marks = dict(st.offsets)
        window = st.event_ids
        taken: set[str] = set()
        wm = st.watermark
        for ev, msg in pairs:
            if msg.partition >= 0 and msg.offset >= 0:
                key = f"{msg.topic}/{msg.partition}"
                last = ub.marks.get(key)
                if last is not None and msg.offset <= last:
                    duplicates += 1
                    continue
                ub.marks[key] = msg.offset
            if ev.event_id in taken or ev.event_id in window:
                duplicates += 1
                continue
            reason = None
            if future is not None and ev.ts > future:
                reason = ("future_ts", f"ts {ev.ts} > now {now_ms} + {limits.future_bound_ms}")
            elif wm >= 0 and ev.ts < wm - lateness:
                reason = ("too_late", f"ts {ev.ts} < user watermark {wm} - {lateness}")
            elif not accept_unknown and ev.item is None and not known(ev.item_id):
                reason = ("unknown_item", f"item {ev.item_id!r} is not in the catalog")
            if reason is not None:
                rejections.append(
                    Rejection(reason[0], reason[1], msg.value, msg.topic, msg.partition, msg.offset)
                )
                continue
            taken.add(ev.event_id)
            ub.events.append(ev)
            wm = max(wm, ev.ts)
        out.append(ub)
    return out, rejections, duplicates


def commit_marks(ub: UserBatch, window: int) -> None:
    """Record the batch's offset marks and applied event ids (bounded FIFO window)."""
    st = ub.state
    st.offsets = ub.marks
    ids = st.event_ids
    for ev in ub.events:
        ids[ev.event_id] = None
    excess = len(ids) - window
    if excess > 0:
        for key in list(ids)[:excess]:
            del ids[key]
