"""SignalLedger: every batch of signal deltas applied once and whole, redeliveries known."""

from __future__ import annotations

import random
from collections import Counter

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from state.signals import SignalDeltas
from streams.core.messages import Message
from streams.kafka import signal_ledger
from streams.kafka.signal_ledger import MAX_PENDING, SignalLedger
from streams.kafka.signals_codec import BatchMark, Span

Record = tuple[SignalDeltas, BatchMark]


def _deltas(tag: str) -> SignalDeltas:
    """Deltas recognisable by their one item name."""
    return SignalDeltas(t_ref=0, items=(tag,), pop_item=np.array([0]), pop_w=np.array([1.0]))


def _batch(writer: bytes, seq: int, parts: int, spans: tuple[Span, ...] = ()) -> list[Record]:
    tag = f"{writer.hex()[:2]}-{seq}"
    return [(_deltas(f"{tag}-{i}"), BatchMark(writer, seq, i, parts, spans)) for i in range(parts)]


def _applied(ledger: SignalLedger, records: list[Record]) -> list[str]:
    return [d.items[0] for deltas, mark in records for d in ledger.offer(deltas, mark)]


def test_a_batch_is_applied_once_when_its_last_part_is_in() -> None:
    ledger = SignalLedger()
    w = bytes(16)
    first, second, third = _batch(w, 1, 3)
    assert _applied(ledger, [first, second]) == []
    assert _applied(ledger, [third]) == ["00-1-0", "00-1-1", "00-1-2"]
    assert _applied(ledger, [first, second, third]) == []  # a retried publication
    assert ledger.duplicates == 3


def test_a_batch_left_incomplete_is_never_applied_and_waits_within_a_bound() -> None:
    """A writer died after two of three parts: nothing of it is applied, whatever comes after
    (the next owner's batch over the same offsets is); the oldest incomplete batches are
    given up beyond ``MAX_PENDING``, and their late parts are then repeats."""
    ledger = SignalLedger()
    dead, heir = bytes(16), b"\x01" * 16
    lost = _batch(dead, 5, 3, (Span("events", 0, 100, 199),))
    assert _applied(ledger, lost[:2]) == []
    assert _applied(ledger, _batch(heir, 1, 1, (Span("events", 0, 100, 299),))) == ["01-1-0"]
    assert (ledger.pending(), ledger.abandoned) == (1, 0)
    for seq in range(MAX_PENDING):
        _applied(ledger, _batch(b"\x02" * 16, seq, 2)[:1])
    assert (ledger.pending(), ledger.abandoned) == (MAX_PENDING, 1)  # the oldest: writer 00's
    assert _applied(ledger, lost[2:]) == []
    assert ledger.duplicates == 1


def test_a_writers_batches_may_be_read_out_of_order() -> None:
    ledger = SignalLedger()
    w = bytes(16)
    second = _batch(w, 2, 1, (Span("events", 0, 10, 19),))
    first = _batch(w, 1, 2, (Span("events", 0, 0, 9),))
    got = _applied(ledger, first[:1] + second + first[1:] + first)
    assert got == ["00-2-0", "00-1-0", "00-1-1"]


def test_spans_of_complete_batches_say_which_offsets_were_counted() -> None:
    ledger = SignalLedger()
    w = bytes(16)
    spans = (Span("events", 0, 100, 199), Span("events.click", 2, 5, 9))
    at_199 = [Message(b"", None, "events", 0, 199)]
    here = (Span("events", 0, 199, 199),)
    _applied(ledger, _batch(w, 1, 2, spans)[:1])
    assert ledger.counted(at_199, here) is None  # not complete: not counted
    _applied(ledger, _batch(w, 1, 2, spans)[1:])
    assert ledger.counted(at_199, here) is not None
    _applied(ledger, _batch(b"\x02" * 16, 1, 1, (Span("events", 0, 150, 160),)))
    messages = [
        Message(b"", None, "events", 0, 199),
        Message(b"", None, "events", 0, 200),
        Message(b"", None, "events", 1, 3),
        Message(b"", None, "events.click", 2, 0),
        Message(b"", None, "events", 0, -1),  # no position (a file)
    ]
    batch = (Span("events", 0, 199, 200), Span("events", 1, 3, 3), Span("events.click", 2, 0, 0))
    counted = ledger.counted(messages, batch)
    assert counted is not None
    assert counted.tolist() == [True, False, False, True, False]
    assert SignalLedger().counted(messages, batch) is None  # nothing published
    newer = (Span("events", 0, 200, 200), Span("events", 1, 3, 3))
    assert ledger.counted(messages[1:3], newer) is None  # only newer offsets


@st.composite
def deliveries(draw: st.DrawFn) -> tuple[list[Record], list[str]]:
    """Several writers' batches, each published in attempts (a prefix or a subset of its
    parts, then all of them) and some writers dying halfway through their last batch; the
    writers' records interleaved, each writer's in its order. Also returns the parts that
    must be applied: those of every batch all of whose parts were published."""
    streams: list[list[Record]] = []
    whole: list[str] = []
    for w in range(draw(st.integers(1, 3))):
        writer = bytes([w]) * 16
        records: list[Record] = []
        batches = draw(st.integers(1, 4))
        dies = draw(st.booleans())
        for seq in range(1, batches + 1):
            parts = _batch(writer, seq, draw(st.integers(1, 4)))
            sent: list[Record] = []
            for _ in range(draw(st.integers(0, 2))):  # failed attempts
                keep = draw(st.lists(st.booleans(), min_size=len(parts), max_size=len(parts)))
                sent += [p for p, k in zip(parts, keep, strict=True) if k]
            if dies and seq == batches:
                sent += parts[: draw(st.integers(0, len(parts) - 1))]
            else:
                sent += parts
            records += sent
            if {m.part for _, m in sent} == set(range(len(parts))):  # all landed, somehow
                whole += [d.items[0] for d, _ in parts]
        streams.append(records)
    merged: list[Record] = []
    while any(streams):
        live = [s for s in streams if s]
        merged.append(live[draw(st.integers(0, len(live) - 1))].pop(0))
    return merged, whole


@given(deliveries())
def test_every_whole_batch_is_applied_exactly_once(case: tuple[list[Record], list[str]]) -> None:
    records, whole = case
    got = _applied(SignalLedger(), records)
    assert Counter(got) == Counter(whole)
    assert len(got) == len(set(got))
    for writer_parts in (
        [g for g in got if g.startswith(prefix)] for prefix in {g[:2] for g in got}
    ):  # each writer's parts in its order
        key = [tuple(map(int, g.split("-")[1:])) for g in writer_parts]
        assert key == sorted(key)


@given(deliveries(), st.randoms(use_true_random=False))
def test_readers_agree_whatever_order_they_read_in(
    case: tuple[list[Record], list[str]], rng: random.Random
) -> None:
    """Any order of the same records (other partitions, another reader): the same batches."""
    records, whole = case
    shuffled = list(records)
    rng.shuffle(shuffled)
    assert Counter(_applied(SignalLedger(), shuffled)) == Counter(whole)


@given(st.randoms(use_true_random=False), st.integers(0, 60))
def test_a_restored_ledger_goes_on_as_the_original(rnd: random.Random, cut: int) -> None:
    """A checkpoint at any point of a shuffled stream (complete, incomplete and repeated
    batches of several writers): the restored ledger applies the rest as the original."""
    spans = (Span("events", 0, 0, 9),)
    records: list[Record] = []
    for w in range(3):
        for seq in range(1, 6):
            batch = _batch(bytes([w]) * 16, seq, rnd.randint(1, 3), spans)
            records += batch if rnd.random() > 0.2 else batch[:-1]  # some writers die halfway
            if rnd.random() < 0.3:
                records += batch[:1]  # a retried publication
    rnd.shuffle(records)
    cut = min(cut, len(records))
    ledger = SignalLedger()
    _applied(ledger, records[:cut])
    back = SignalLedger.restored(ledger.state())
    assert back.state() == ledger.state()
    assert _applied(back, records[cut:]) == _applied(ledger, records[cut:])
    assert (back.duplicates, back.abandoned, back.pending()) == (
        ledger.duplicates,
        ledger.abandoned,
        ledger.pending(),
    )
    msgs = [Message(b"", None, "events", 0, o) for o in range(12)]
    same = back.counted(msgs, spans), ledger.counted(msgs, spans)
    assert (same[0] is None) == (same[1] is None)
    if same[0] is not None and same[1] is not None:
        assert same[0].tolist() == same[1].tolist()


def test_the_least_recently_read_writers_are_forgotten_beyond_a_bound(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(signal_ledger, "MAX_WRITERS", 3)
    ledger = SignalLedger()
    writers = [bytes([i]) * 16 for i in range(5)]
    _applied(ledger, _batch(writers[0], 1, 2)[:1])  # writer 0 dies halfway
    for w in writers[1:3]:
        _applied(ledger, _batch(w, 1, 1))
    _applied(ledger, _batch(writers[0], 2, 1))  # writer 0 read again: the most recent
    _applied(ledger, _batch(writers[3], 1, 1))  # four: writer 1 is forgotten
    assert sorted(ledger.state().done) == sorted([writers[0], writers[2], writers[3]])
    assert (ledger.pending(), ledger.abandoned) == (1, 0)
    _applied(ledger, _batch(writers[4], 1, 1))  # writer 2 goes
    _applied(ledger, _batch(writers[1], 2, 1))  # writer 1 again: writer 0 and its part go
    assert (ledger.pending(), ledger.abandoned) == (0, 1)
    assert sorted(ledger.state().done) == sorted([writers[1], writers[3], writers[4]])
