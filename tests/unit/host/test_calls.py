"""EngineCalls: the engine's side of the worker, plain data in and out."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from prometheus_client import CollectorRegistry

from state.codec import decode_user
from state.signals import SignalDeltas
from streams.core.messages import Message
from streams.core.outputs import Recommendation
from streams.host.calls import EngineCalls
from streams.kafka.signals_codec import decode_deltas, encode_deltas
from tests.unit.core.helpers import event, msg
from tests.unit.host.engines import small_calls

T0 = 1_704_067_200_000
MIN = 60_000


def clicks(user: str, items: list[str], first_offset: int = 0) -> list[Message]:
    """Events of ``user``, each at its own Kafka position (so redelivery is recognised)."""
    return [
        msg(event(f"{user}-{first_offset + i}", user, it, T0 + i * MIN), 0, first_offset + i)
        for i, it in enumerate(items)
    ]


def test_a_batch_comes_back_rendered_with_its_state_changes() -> None:
    calls = small_calls(CollectorRegistry())
    bad = Message(b"{not json", b"k", "events", 0, 99)
    out = calls.process([*clicks("u", ["run1", "sock", "run2"]), bad], {}, now_ms=T0)
    assert out.applied == 3
    assert [r.user_id for r in out.recommendations] == ["u"]
    rec = Recommendation.from_json(out.recommendations[0].body)
    assert rec.user_id == "u"
    assert out.recommendations[0].ts == rec.ts == T0 + 2 * MIN
    assert [(r.reason, r.value, r.offset) for r in out.rejections] == [
        ("malformed_json", b"{not json", 99)
    ]
    assert set(out.changes) == {"u"}
    state = out.changes["u"]
    assert state is not None
    assert decode_user(state).user_id == "u"
    assert out.signal_records, "co-visitation and trending deltas leave as encoded records"
    assert all(len(decode_deltas(r)) for r in out.signal_records)


def test_redelivery_over_the_written_states_applies_nothing() -> None:
    calls = small_calls(CollectorRegistry())
    batch = clicks("u", ["run1", "sock"]) + clicks("v", ["pan"])
    first = calls.process(batch, {}, now_ms=T0)
    stored = {u: v for u, v in first.changes.items() if v is not None}
    again = calls.process(batch, stored, now_ms=T0)
    assert (again.applied, again.duplicates) == (0, 3)
    assert again.changes == {}
    assert again.signal_records == []


def test_states_move_between_calls_only_as_the_bytes_sent() -> None:
    """A state the caller does not send is a new user (the engine keeps no hidden copy that
    outlives a rebalance or a restore)."""
    calls = small_calls(CollectorRegistry(), cache_users=0)
    first = calls.process(clicks("u", ["run1"]), {}, now_ms=T0)
    second = calls.process(clicks("u", ["sock"], first_offset=1), {}, now_ms=T0)
    state = second.changes["u"]
    assert state is not None
    assert decode_user(state).n_events == 1
    with_prior = calls.process(
        clicks("u", ["sock"], first_offset=1), {"u": first.changes["u"] or b""}, now_ms=T0
    )
    state = with_prior.changes["u"]
    assert state is not None
    assert decode_user(state).n_events == 2


class _Flaky:
    """An engine that raises on any batch holding the message ``poison`` (delegates the rest)."""

    def __init__(self, calls: EngineCalls, poison: bytes) -> None:
        self._engine = calls.engine
        self._poison = poison

    def process(self, messages: list[Message], now_ms: int) -> Any:
        if any(m.value == self._poison for m in messages):
            raise ValueError("boom")
        return self._engine.process(messages, now_ms=now_ms)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._engine, name)


def test_a_poison_message_is_isolated_and_the_rest_applied() -> None:
    calls = small_calls(CollectorRegistry())
    batch = clicks("u", ["run1", "sock"]) + clicks("v", ["pan", "pot"], first_offset=10)
    poison = batch[2]
    calls.engine = _Flaky(calls, poison.value)  # type: ignore[assignment]
    out = calls.process(batch, {}, now_ms=T0)
    assert [(p.message, "boom" in p.detail) for p in out.poison] == [(poison, True)]
    assert out.applied == 3
    assert set(out.changes) == {"u", "v"}
    state = out.changes["v"]
    assert state is not None
    assert decode_user(state).n_events == 1


def test_recommend_reads_only_the_states_sent() -> None:
    calls = small_calls(CollectorRegistry())
    first = calls.process(clicks("u", ["run1", "run2"]), {}, now_ms=T0)
    stored = {"u": first.changes["u"] or b""}
    recs = calls.recommend(stored, ["u", "nobody"])
    assert [r.user_id for r in recs] == ["u", "nobody"]
    known = Recommendation.from_json(recs[0].body)
    assert "run1" not in [i.item_id for i in known.items]
    assert known.ts == T0 + MIN


def test_signal_records_are_decoded_and_bad_ones_skipped(caplog: pytest.LogCaptureFixture) -> None:
    calls = small_calls(CollectorRegistry())
    deltas = SignalDeltas(
        t_ref=T0,
        items=("run1",),
        pop_item=np.array([0]),
        pop_w=np.array([2.0]),
    )
    assert calls.apply_signals([encode_deltas(deltas), b"garbage"]) == 1
    assert "undecodable signals record" in caplog.text


def test_items_and_prepare_report_the_catalog_size() -> None:
    calls = small_calls(CollectorRegistry())
    out = calls.apply_items([msg({"item_id": "pan", "deleted": True}), msg(b"{")])
    assert out.catalog_items == 5
    assert [r.reason for r in out.rejections] == ["malformed_json"]
    assert calls.prepare() == 5
