"""Vectorised admission equals the literal per-user, per-event rules (the reference below)."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from state.store import MemoryUserStore
from state.user import UserState
from streams.core.admission import admit
from streams.core.columns import EventColumns
from streams.core.messages import Message
from streams.core.params import EngineParams, LimitParams

T0 = 1_000_000_000
LATE = 100
PARAMS = EngineParams(limits=LimitParams(allowed_lateness_ms=LATE, future_bound_ms=50))


def _reference(
    cols: EventColumns,
    messages: list[Message],
    states: dict[str, UserState],
    known: list[bool],
    now_ms: int | None,
) -> tuple[dict[int, str], dict[str, dict[str, int]], dict[int, int]]:
    """The original admission loop: ``(verdict per position, marks per user, too_late wm)``."""
    groups: dict[str, list[int]] = {}
    for j, u in enumerate(cols.user_id):
        groups.setdefault(u, []).append(j)
    future = None if now_ms is None else now_ms + PARAMS.limits.future_bound_ms
    out: dict[int, str] = {}
    late_wm: dict[int, int] = {}
    marks_out: dict[str, dict[str, int]] = {}
    for user, positions in groups.items():
        st = states[user]
        marks = dict(st.offsets)
        taken: set[str] = set()
        wm = st.watermark
        for j in positions:
            msg = messages[cols.msg[j]]
            if msg.partition >= 0 and msg.offset >= 0:
                key = f"{msg.topic}/{msg.partition}"
                last = marks.get(key)
                if last is not None and msg.offset <= last:
                    out[j] = "duplicate"
                    continue
                marks[key] = msg.offset
            eid, ts = cols.event_id[j], cols.ts[j]
            if eid in taken or eid in st.event_ids:
                out[j] = "duplicate"
            elif future is not None and ts > future:
                out[j] = "future_ts"
            elif wm >= 0 and ts < wm - LATE:
                out[j] = "too_late"
                late_wm[j] = wm
            elif not known[j]:
                out[j] = "unknown_item"
            else:
                out[j] = "applied"
                taken.add(eid)
                wm = max(wm, ts)
        marks_out[user] = marks
    return out, marks_out, late_wm


@st.composite
def batches(draw: st.DrawFn) -> dict[str, Any]:
    users = ["a", "b", "c"]
    n = draw(st.integers(1, 30))
    kafka = draw(st.booleans())
    cols = EventColumns()
    messages = []
    for j in range(n):
        part = draw(st.sampled_from([0, 1])) if kafka else -1
        off = draw(st.integers(0, 12)) if kafka else -1
        messages.append(Message(b"{}", topic="events", partition=part, offset=off))
        cols.msg.append(j)
        cols.event_id.append(f"e{draw(st.integers(0, 8))}")
        cols.user_id.append(draw(st.sampled_from(users)))
        cols.item_id.append("i")
        cols.type.append(0)
        cols.ts.append(T0 + draw(st.integers(-300, 300)))
        cols.value.append(float("nan"))
    known = [draw(st.integers(0, 9)) > 0 for _ in range(n)]
    states = {}
    for u in users:
        s = UserState.new(u, 2)
        if draw(st.booleans()):
            s.watermark = T0 + draw(st.integers(-200, 200))
            s.event_ids = {f"e{k}": None for k in draw(st.sets(st.integers(0, 8), max_size=3))}
            if kafka:
                s.offsets = {"events/0": draw(st.integers(0, 6))}
        states[u] = s
    now = draw(st.one_of(st.none(), st.integers(T0 - 100, T0 + 300)))
    return {"cols": cols, "messages": messages, "known": known, "states": states, "now": now}


@settings(max_examples=400, deadline=None)
@given(b=batches())
def test_vectorised_admission_matches_the_literal_rules(b: dict[str, Any]) -> None:
    cols: EventColumns = b["cols"]
    states: dict[str, UserState] = b["states"]
    ref, ref_marks, late_wm = _reference(cols, b["messages"], states, b["known"], b["now"])
    store = MemoryUserStore()
    for s in states.values():
        if s.watermark >= 0:
            store.put(dataclasses.replace(s))
    adm = admit(
        cols,
        b["messages"],
        store,
        lambda u: UserState.new(u, 2),
        PARAMS,
        known=np.array(b["known"]),
        now_ms=b["now"],
    )
    users = list(dict.fromkeys(cols.user_id))
    assert [s.user_id for s in adm.states] == users
    assert adm.order.tolist() == [
        j for u in users for j in range(len(cols)) if cols.user_id[j] == u and ref[j] == "applied"
    ]
    assert [adm.states[u].user_id for u in adm.user.tolist()] == [
        cols.user_id[j] for j in adm.order.tolist()
    ]
    assert adm.duplicates == sum(v == "duplicate" for v in ref.values())
    expected_rejections = [
        (v, j)
        for user in users
        for j, v in sorted(ref.items())
        if cols.user_id[j] == user and v not in ("applied", "duplicate")
    ]
    assert [r.reason for r in adm.rejections] == [v for v, _ in expected_rejections]
    for r, (v, j) in zip(adm.rejections, expected_rejections, strict=True):
        if v == "too_late":
            assert f"user watermark {late_wm[j]} " in r.detail
    for u, st_ in enumerate(adm.states):
        marks = adm.marks[u]
        assert (dict(st_.offsets) if marks is None else marks) == ref_marks[st_.user_id]
