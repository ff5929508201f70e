"""EngineCalls: the engine's side of the worker, plain data in and out."""

from __future__ import annotations

import dataclasses
import json
import logging
import re
from typing import Any

import numpy as np
import pytest
from prometheus_client import CollectorRegistry

from state.codec import decode_user
from state.signals import SignalDeltas
from streams.core.engine import Engine
from streams.core.messages import Message
from streams.core.outputs import Recommendation
from streams.core.params import EngineParams
from streams.host.calls import EngineCalls, SignalsOut
from streams.host.staging import StageProxy
from streams.kafka.signals_codec import (
    Span,
    decode_deltas,
    decode_record,
    encode_batch,
    encode_deltas,
)
from tests.contract.encoder_doubles import HashingEncoder
from tests.signal_totals import Totals, applied_once, assert_same_totals, signal_totals
from tests.unit.core.helpers import event, item, msg
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
    calls = small_calls(CollectorRegistry(), cache_bytes=0)
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

    def process(self, messages: list[Message], now_ms: int, counted: Any = None) -> Any:
        if any(m.value == self._poison for m in messages):
            raise ValueError("boom")
        return self._engine.process(messages, now_ms=now_ms, counted=counted)

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
    assert calls.apply_signals([encode_deltas(deltas), b"garbage"]).applied == 1
    assert "undecodable signals record" in caplog.text


def test_items_and_prepare_report_the_catalog_size() -> None:
    calls = small_calls(CollectorRegistry())
    out = calls.apply_items([msg({"item_id": "pan", "deleted": True}), msg(b"{")])
    assert out.catalog_items == 5
    assert [r.reason for r in out.rejections] == ["malformed_json"]
    assert calls.prepare() == 5


class _FlakyItems(_Flaky):
    """An engine whose catalog call raises on any batch holding the record ``poison``."""

    def apply_items(self, messages: list[Message]) -> Any:
        if any(m.value == self._poison for m in messages):
            raise ValueError("boom")
        return self._engine.apply_items(messages)


def test_a_catalog_record_the_engine_cannot_take_is_rejected_and_the_rest_applied() -> None:
    calls = small_calls(CollectorRegistry())
    before = calls.catalog_items()
    records = [
        msg(item("kettle", "Kettle", "home/kitchen"), offset=1),
        msg(item("lamp", "Lamp", "home/light"), offset=2),
        msg(b"{", offset=3),
        msg(item("mug", "Mug", "home/kitchen"), offset=4),
    ]
    calls.engine = _FlakyItems(calls, records[1].value)  # type: ignore[assignment]
    out = calls.apply_items(records)
    assert [(r.reason, r.offset) for r in out.rejections] == [
        ("processing_error", 2),
        ("malformed_json", 3),
    ]
    assert "boom" in out.rejections[0].detail
    assert out.rejections[0].value == records[1].value
    assert out.catalog_items == before + 2  # the kettle and the mug


def test_a_catalog_call_that_fails_for_every_record_is_an_engine_failure() -> None:
    """Not a catalog dead-lettered whole while the worker reports ready."""
    calls = small_calls(CollectorRegistry())
    records = [msg(item("kettle", "Kettle", "home/kitchen")), msg(item("mug", "Mug", "home"))]

    class _Broken(_Flaky):
        def apply_items(self, messages: list[Message]) -> Any:
            raise RuntimeError("encoder gone")

    calls.engine = _Broken(calls, b"")  # type: ignore[assignment]
    with pytest.raises(RuntimeError, match="encoder gone"):
        calls.apply_items(records)
    one = calls.apply_items(records[:1])  # alone it cannot tell: that record is dead-lettered
    assert [r.reason for r in one.rejections] == ["processing_error"]


def _totals(calls: EngineCalls, records: list[bytes]) -> Totals:
    return signal_totals(applied_once(records), T0, calls.engine.params)


@pytest.mark.parametrize("written", [(), ("u",), ("u", "v")])
def test_a_batch_redelivered_after_a_crash_counts_its_signals_once(
    written: tuple[str, ...],
) -> None:
    """A worker publishes a batch's signal deltas and dies before (some of) its states and
    its offsets are durable; the next one reads the signals topic, then gets the batch again
    with more events: states are applied once, and every increment is counted once."""
    first = clicks("u", ["run1", "sock", "run2"]) + clicks("v", ["pan", "sock"], 3)
    later = clicks("u", ["pan", "run1"], 5) + clicks("v", ["run2"], 7)
    reference = small_calls(CollectorRegistry()).process(first + later, {}, now_ms=T0)

    dead = small_calls(CollectorRegistry())
    published = dead.process(first, {}, now_ms=T0)
    stored = {u: v for u, v in published.changes.items() if u in written and v is not None}

    restarted = small_calls(CollectorRegistry(), writer=b"\x01" * 16)
    assert restarted.apply_signals(published.signal_records).applied == len(
        published.signal_records
    )
    again = restarted.process(first + later, stored, now_ms=T0)

    assert again.applied == 8 - 3 * ("u" in written) - 2 * ("v" in written)
    for user in ("u", "v"):
        state = again.changes.get(user)
        assert state is not None
        want = reference.changes[user]
        assert want is not None
        assert decode_user(state).n_events == decode_user(want).n_events
    assert again.signal_key == restarted.writer != dead.writer
    assert_same_totals(
        _totals(restarted, published.signal_records + again.signal_records),
        _totals(restarted, reference.signal_records),
    )


def test_signal_records_of_a_batch_are_marked_with_its_writer_order_and_offsets() -> None:
    calls = small_calls(CollectorRegistry())
    a = calls.process(clicks("u", ["run1", "sock"], 40), {}, now_ms=T0)
    b = calls.process(clicks("v", ["pan", "run2"], 42), {}, now_ms=T0)
    later = clicks("w", ["pan", "run2", "sock"], 42)
    marks = [decode_record(r)[1] for r in a.signal_records + b.signal_records]
    assert [(m.writer, m.seq, m.part, m.parts) for m in marks if m] == [
        (calls.writer, 1, 0, 1),
        (calls.writer, 2, 0, 1),
    ]
    assert [m.spans for m in marks if m] == [
        (Span("events", 0, 40, 41),),
        (Span("events", 0, 42, 43),),
    ]
    # read back (a worker reads its own records too): each applied once
    assert calls.apply_signals(a.signal_records + a.signal_records + b.signal_records) == (
        SignalsOut(applied=2, repeated=1)
    )
    # offsets 40..43 are published: events there, seen again, make no increments
    counted = calls.ledger.counted(later, (Span("events", 0, 42, 44),))
    assert counted is not None
    assert counted.tolist() == [True, True, False]


def test_each_engine_writes_as_its_own_writer() -> None:
    """A worker process start is a new writer (its batch numbers start again)."""
    a, b = (EngineCalls(small_calls(CollectorRegistry()).engine, StageProxy()) for _ in "ab")
    assert len(a.writer) == len(b.writer) == 16
    assert a.writer != b.writer


def test_a_redelivery_in_another_order_across_topics_counts_every_pair_once() -> None:
    """A user's view (published before the crash) and click (not) come again in the other
    order, as two topics may: the pair of the two still counts, once."""

    def on(kind: str, offset: int, item: str, minute: int) -> Message:
        body = json.dumps(event(f"{kind}-{offset}", "u", item, T0 + minute * MIN, kind))
        return Message(body.encode(), b"u", f"events.{kind}", 0, offset)

    view = on("view", 10, "sock", 1)
    click = on("click", 5, "run1", 2)
    reference = small_calls(CollectorRegistry()).process([view, click], {}, now_ms=T0)
    published = small_calls(CollectorRegistry()).process([view], {}, now_ms=T0)
    restarted = small_calls(CollectorRegistry(), writer=b"\x01" * 16)
    restarted.apply_signals(published.signal_records)
    again = restarted.process([click, view], {}, now_ms=T0)
    want = _totals(restarted, reference.signal_records)
    assert ("pair", "run1", "sock") in want
    assert_same_totals(_totals(restarted, published.signal_records + again.signal_records), want)


@pytest.mark.parametrize("background", [False, True])
def test_each_item_index_build_is_logged_once(
    caplog: pytest.LogCaptureFixture, background: bool
) -> None:
    """The ops' view of the index: one line per build the engine's calls installed."""
    params = EngineParams()
    params = dataclasses.replace(
        params, recommend=dataclasses.replace(params.recommend, index_min_items=40)
    )
    engine = Engine(params, HashingEncoder(64))
    engine.index_in_background(background)
    calls = EngineCalls(engine, StageProxy())
    catalog = [msg(item(f"i{i}", f"thing number {i}", f"c/{i % 5}")) for i in range(60)]
    calls.apply_items(catalog[:40])
    with caplog.at_level(logging.INFO, logger="streams.host.calls"):
        calls.prepare()
        calls.process(clicks("u", ["i1", "i2"]), {}, now_ms=T0)  # no build: nothing logged
        calls.apply_items(catalog[40:])  # half the index again: due
        calls.process(clicks("u", ["i3"], first_offset=2), {}, now_ms=T0)
        assert engine.item_index.wait(timeout=60)
        calls.process(clicks("u", ["i4"], first_offset=3), {}, now_ms=T0)
        calls.process(clicks("u", ["i5"], first_offset=4), {}, now_ms=T0)
    built = [r.getMessage() for r in caplog.records if "item index" in r.getMessage()]
    second = "in a background thread" if background else "in line"
    assert len(built) == 2, built
    assert re.fullmatch(r"item index built over 40 items in \d+\.\d s \(in line\)", built[0])
    assert re.fullmatch(rf"item index built over 60 items in \d+\.\d s \({second}\)", built[1])


def _held(calls: EngineCalls) -> dict[str, tuple[float, float, dict[str, float]]]:
    """The engine's signals by item id: popularity, degree and neighbour weights."""
    t = calls.engine.signals.totals(calls.engine.catalog)
    return {
        item: (
            float(t.pop[i]),
            float(t.deg[i]),
            {t.items[b]: float(w) for b, w in zip(t.nbr[i], t.w[i], strict=True) if b >= 0},
        )
        for i, item in enumerate(t.items)
    }


def test_a_signals_checkpoint_restores_what_reading_the_topic_gave() -> None:
    """Checkpoint in the middle of a stream of signal records (one batch's records cut in
    two parts, only the first read yet): an engine that restores it and reads the rest
    holds the signals and the ledger of one that read everything."""
    as_worker = dataclasses.replace(EngineParams(), apply_signals_locally=False)
    a = small_calls(CollectorRegistry(), params=as_worker)
    stored: dict[str, bytes] = {}

    def batch(msgs: list[Message]) -> list[bytes]:
        out = a.process(msgs, stored, now_ms=T0)
        stored.update({u: v for u, v in out.changes.items() if v is not None})
        return out.signal_records

    before = batch(clicks("u", ["run1", "sock", "run2"])) + batch(clicks("v", ["pan", "pot"]))
    split = decode_record(batch(clicks("w", ["sock", "run1", "run3"]))[0])[0]
    mark = decode_record(before[0])[1]
    assert mark is not None
    parts = encode_batch([split], b"\x07" * 16, 1, mark.spans, max_bytes=200)
    assert len(parts) >= 2
    a.apply_signals([*before, parts[0]])
    blob = a.checkpoint_signals({0: 3, 1: 0})
    b = small_calls(CollectorRegistry(), writer=b"\x01" * 16, params=as_worker)
    assert b.restore_signals(blob) == {0: 3, 1: 0}
    assert _held(b) == _held(a)
    assert b.ledger.state() == a.ledger.state()
    assert b.ledger.pending() == 1
    last = batch(clicks("u", ["pot"], first_offset=3))
    later = parts[1:] + last + parts[:1]  # parts[0] again: a repeat
    for calls in (a, b):
        out = calls.apply_signals(later)
        assert (out.applied, out.repeated) == (len(parts) + len(last), 1)
    held = _held(a)
    assert _held(b).keys() == held.keys()
    for item_id, (pop, deg, nbrs) in held.items():
        got = _held(b)[item_id]
        assert got[0] == pytest.approx(pop)
        assert got[1] == pytest.approx(deg)
        assert got[2] == pytest.approx(nbrs)
    assert [r.body for r in b.recommend(stored, ["u", "v"])] == [
        r.body for r in a.recommend(stored, ["u", "v"])
    ]


def test_an_unusable_signals_checkpoint_changes_nothing(caplog: pytest.LogCaptureFixture) -> None:
    a = small_calls(CollectorRegistry())
    a.apply_signals(a.process(clicks("u", ["run1", "sock"]), {}, now_ms=T0).signal_records)
    blob = a.checkpoint_signals({0: 1})
    params = EngineParams()
    slower = dataclasses.replace(
        params, covis=dataclasses.replace(params.covis, half_life_ms=params.covis.half_life_ms * 2)
    )
    other = small_calls(CollectorRegistry(), params=slower)
    other.apply_signals(other.process(clicks("v", ["pan", "pot"]), {}, now_ms=T0).signal_records)
    before, ledger = _held(other), other.ledger.state()
    assert before
    assert other.restore_signals(blob) is None
    assert "was kept with half-lives" in caplog.text
    assert other.restore_signals(b"not a checkpoint") is None
    assert other.restore_signals(blob[: len(blob) // 2]) is None
    assert "cannot read the signals checkpoint" in caplog.text
    assert (_held(other), other.ledger.state()) == (before, ledger)
