"""The admission rules of :mod:`streams.core.admission` on columns, for a whole batch at once.

The per-user sequential semantics vectorise because of two facts. A message's offset mark
only depends on earlier offsets of the same user and partition (marks advance whether or not
the event is applied). And the user's running watermark is the running maximum of the
*candidate* events (neither duplicate, future nor unknown): an event that is too late lies
below that maximum, so counting it in changes nothing. The one dependency left — an
``event_id`` repeated inside the batch is a duplicate only if its earlier copy was applied —
is settled by assuming every later copy is a duplicate and checking that each first copy was
applied; users where one was not (rare) take the literal per-event loop (:func:`_sequential`).
"""

from __future__ import annotations

import operator
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from state.user import UserState
from streams.core.columns import EventColumns
from streams.core.messages import LineMessages, Message
from streams.core.params import EngineParams

__all__ = ["Verdicts", "offset_duplicates", "verdicts"]


def _placed(msg: Message) -> bool:
    """The message has a Kafka position (offset marks apply)."""
    return msg.partition >= 0 and msg.offset >= 0


I64 = npt.NDArray[np.int64]
B = npt.NDArray[np.bool_]


@dataclass(slots=True)
class Verdicts:
    """One flag per column position; ``order`` groups positions by user (arrival within)."""

    order: I64
    duplicate: B
    future: B
    too_late: B
    unknown: B
    admitted: B
    watermark: I64
    """The user's watermark just before the event (the ``too_late`` reference)."""


def offset_duplicates(
    cols: EventColumns,
    messages: Sequence[Message],
    states: Sequence[UserState],
    code: Sequence[int],
) -> tuple[B, list[dict[str, int] | None]]:
    """``(duplicate by offset mark, new marks per user)``; marks advance in arrival order."""
    dup = np.zeros(len(cols), np.bool_)
    marks: list[dict[str, int] | None] = [None] * len(states)
    keys: dict[tuple[str, int], str] = {}
    if isinstance(messages, LineMessages):
        return dup, marks  # lines of a file: no Kafka positions, no marks
    placed = np.fromiter(map(_placed, messages), np.bool_, len(messages))
    if not placed.any():
        return dup, marks  # no Kafka positions (a file): no marks
    for j, i in enumerate(cols.msg):
        if not placed[i]:
            continue
        msg = messages[i]
        u = code[j]
        mk = marks[u]
        if mk is None:
            mk = marks[u] = dict(states[u].offsets)
        tp = (msg.topic, msg.partition)
        key = keys.get(tp)
        if key is None:
            key = keys[tp] = f"{msg.topic}/{msg.partition}"
        last = mk.get(key)
        if last is not None and msg.offset <= last:
            dup[j] = True
        else:
            mk[key] = msg.offset
    return dup, marks


def _repeats(cols: EventColumns, code: Sequence[int], live: B) -> tuple[B, list[int]]:
    """``(later copies, first copies)`` of ``event_id`` s repeated by one user among ``live``.

    Later copies are duplicates exactly when their first copy gets applied.
    """
    ids = cols.event_id
    later = np.zeros(len(ids), np.bool_)
    last = dict(zip(ids, range(len(ids)), strict=True))
    if len(last) == len(ids):
        return later, []
    final = np.fromiter(map(last.__getitem__, ids), np.int64, len(ids))
    earlier = np.flatnonzero(final != np.arange(len(ids)))
    repeated = np.zeros(len(ids), np.bool_)
    repeated[earlier] = True
    repeated[final[earlier]] = True
    first: dict[tuple[int, str], int] = {}
    copied: list[int] = []
    for j in np.flatnonzero(repeated & live).tolist():
        key = (code[j], ids[j])
        j0 = first.setdefault(key, j)
        if j0 != j:
            later[j] = True
            copied.append(j0)
    return later, copied


def _running_watermark(code_s: I64, ts_s: I64, cand_s: B, user_wm: I64) -> I64:
    """Per sorted position: max(user watermark, candidate ts earlier for the same user)."""
    n = len(code_s)
    vals = np.where(cand_s, ts_s, -1)
    prev = np.full(n, -1, np.int64)
    prev[1:] = vals[:-1]
    prev[1:][code_s[1:] != code_s[:-1]] = -1
    uniq, rank = np.unique(prev, return_inverse=True)
    span = np.int64(len(uniq))
    best = np.maximum.accumulate(code_s * span + rank.reshape(-1)) - code_s * span
    out: I64 = np.maximum(uniq[best], user_wm[code_s])
    return out


def verdicts(
    cols: EventColumns,
    states: Sequence[UserState],
    code_list: Sequence[int],
    *,
    offdup: B,
    known: B,
    params: EngineParams,
    now_ms: int | None,
) -> Verdicts:
    """Every rule for every event of the batch (see the module docstring).

    ``code_list[j]``: event ``j``'s user (index into ``states``); ``offdup``: duplicates by
    offset mark; ``known``: the item is known or inline.
    """
    n = len(cols)
    code = np.asarray(code_list, np.int64)
    if params.accept_unknown_items:
        known = np.ones(n, np.bool_)
    limits = params.limits
    ts = np.asarray(cols.ts, np.int64)
    windows = [st.event_ids for st in states]
    in_window = np.fromiter(
        map(operator.contains, map(windows.__getitem__, code_list), cols.event_id), np.bool_, n
    )
    later, firsts = _repeats(cols, code_list, ~(offdup | in_window))
    dup = offdup | in_window | later
    bound = None if now_ms is None else now_ms + limits.future_bound_ms
    future = ~dup & (ts > bound) if bound is not None else np.zeros(n, np.bool_)
    open_ = ~(dup | future)
    cand = open_ & known
    order = np.argsort(code, kind="stable")
    user_wm = np.fromiter((st.watermark for st in states), np.int64, len(states))
    wm_s = _running_watermark(code[order], ts[order], cand[order], user_wm)
    watermark = np.empty(n, np.int64)
    watermark[order] = wm_s
    too_late = open_ & (watermark >= 0) & (ts < watermark - limits.allowed_lateness_ms)
    unknown = open_ & ~too_late & ~known  # precedence: future_ts, too_late, unknown_item
    v = Verdicts(order, dup, future, too_late, unknown, cand & ~too_late, watermark)
    # a repeated id whose first copy was not applied: that user takes the literal loop
    repeated = {code_list[j] for j in firsts if not v.admitted[j]}
    if repeated:
        _sequential(
            v,
            cols,
            states,
            code=code,
            users=repeated,
            offdup=offdup,
            known=known,
            bound=bound,
            lateness=limits.allowed_lateness_ms,
        )
    return v


def _sequential(
    v: Verdicts,
    cols: EventColumns,
    states: Sequence[UserState],
    *,
    code: I64,
    users: set[int],
    offdup: B,
    known: B,
    bound: int | None,
    lateness: int,
) -> None:
    """The literal per-event rules for ``users`` (overwrites their verdicts)."""
    sel = v.order[np.isin(code[v.order], np.fromiter(users, np.int64, len(users)))]
    for arr in (v.duplicate, v.future, v.too_late, v.unknown, v.admitted):
        arr[sel] = False
    taken: dict[int, set[str]] = {u: set() for u in users}
    wm = {u: states[u].watermark for u in users}
    for j in sel.tolist():
        u, eid, ts = int(code[j]), cols.event_id[j], cols.ts[j]
        if offdup[j] or eid in taken[u] or eid in states[u].event_ids:
            v.duplicate[j] = True
        elif bound is not None and ts > bound:
            v.future[j] = True
        elif wm[u] >= 0 and ts < wm[u] - lateness:
            v.too_late[j] = True
            v.watermark[j] = wm[u]
        elif not known[j]:
            v.unknown[j] = True
        else:
            taken[u].add(eid)
            v.admitted[j] = True
            wm[u] = max(wm[u], ts)
