from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from state.signals import SignalDeltas
from streams.kafka.signals_codec import (
    MAX_RECORD_BYTES,
    BatchMark,
    SignalCodecError,
    Span,
    decode_deltas,
    decode_record,
    encode_batch,
    encode_deltas,
)

WRITER = bytes(range(16))
SPANS = (Span("events", 0, 10, 99), Span("events.click", 3, 0, 0))

ids = st.text(
    alphabet=st.characters(blacklist_characters="\n", blacklist_categories=["Cs"]),
    min_size=1,
    max_size=12,
)


@st.composite
def deltas(draw: st.DrawFn) -> SignalDeltas:
    items = tuple(draw(st.lists(ids, min_size=1, max_size=8, unique=True)))
    n = len(items)
    n_pop = draw(st.integers(0, 10))
    n_pairs = draw(st.integers(0, 30))
    w = st.floats(0, 1e6, allow_nan=False)
    return SignalDeltas(
        t_ref=draw(st.integers(-(2**62), 2**62)),
        items=items,
        pop_item=np.array(
            draw(st.lists(st.integers(0, n - 1), min_size=n_pop, max_size=n_pop)), dtype=np.int64
        ),
        pop_w=np.array(draw(st.lists(w, min_size=n_pop, max_size=n_pop)), dtype=np.float64),
        pair_a=np.array(
            draw(st.lists(st.integers(0, n - 1), min_size=n_pairs, max_size=n_pairs)),
            dtype=np.int64,
        ),
        pair_b=np.array(
            draw(st.lists(st.integers(0, n - 1), min_size=n_pairs, max_size=n_pairs)),
            dtype=np.int64,
        ),
        pair_w=np.array(draw(st.lists(w, min_size=n_pairs, max_size=n_pairs)), dtype=np.float64),
    )


def _same(a: SignalDeltas, b: SignalDeltas) -> None:
    assert a.t_ref == b.t_ref
    assert a.items == b.items
    for name in ("pop_item", "pop_w", "pair_a", "pair_b", "pair_w"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))


@given(deltas())
def test_round_trip_is_exact(d: SignalDeltas) -> None:
    _same(decode_deltas(encode_deltas(d)), d)
    assert decode_record(encode_deltas(d))[1] is None  # version 1: no batch


topics = st.text(alphabet=st.characters(blacklist_categories=["Cs"]), max_size=20)
spans = st.builds(
    Span, topics, st.integers(0, 2**31 - 1), st.integers(0, 2**62), st.integers(0, 2**62)
)


@given(
    deltas(),
    st.binary(min_size=16, max_size=16),
    st.integers(0, 2**64 - 1),
    st.integers(1, 0xFFFF).flatmap(lambda n: st.tuples(st.integers(0, n - 1), st.just(n))),
    st.lists(spans, max_size=5).map(tuple),
)
def test_a_marked_record_round_trips_with_its_batch(
    d: SignalDeltas, writer: bytes, seq: int, part: tuple[int, int], sp: tuple[Span, ...]
) -> None:
    mark = BatchMark(writer, seq, part[0], part[1], sp)
    got, got_mark = decode_record(encode_deltas(d, mark))
    _same(got, d)
    assert got_mark == mark


def _entries(d: SignalDeltas) -> tuple[list[tuple[str, float]], list[tuple[str, str, float]]]:
    pop = [(d.items[i], w) for i, w in zip(d.pop_item, d.pop_w, strict=True)]
    pairs = [
        (d.items[a], d.items[b], w) for a, b, w in zip(d.pair_a, d.pair_b, d.pair_w, strict=True)
    ]
    return pop, pairs


@given(deltas(), st.integers(300, 2000))
def test_split_records_fit_and_add_up(d: SignalDeltas, max_bytes: int) -> None:
    records = encode_batch([d], WRITER, 7, SPANS, max_bytes)
    assert all(len(r) <= max_bytes for r in records)
    decoded = [decode_record(r) for r in records]
    assert [m for _, m in decoded] == [
        BatchMark(WRITER, 7, i, len(records), SPANS) for i in range(len(records))
    ]
    parts = [p for p, _ in decoded]
    assert all(p.t_ref == d.t_ref for p in parts)
    pop, pairs = _entries(d)
    assert [e for p in parts for e in _entries(p)[0]] == pop
    assert [e for p in parts for e in _entries(p)[1]] == pairs
    for p in parts if len(parts) > 1 else []:  # a cut part names only what it uses
        used = set(p.pop_item.tolist()) | set(p.pair_a.tolist()) | set(p.pair_b.tolist())
        assert used == set(range(len(p.items)))


def test_a_large_batch_of_deltas_is_cut_below_the_message_size() -> None:
    rng = np.random.default_rng(0)
    items = tuple(f"item-{i:06d}" for i in range(50_000))
    n = 300_000  # the co-visitation pairs of a merged 8000-event call
    d = SignalDeltas(
        t_ref=1,
        items=items,
        pop_item=np.arange(len(items)),
        pop_w=np.ones(len(items)),
        pair_a=rng.integers(0, len(items), n),
        pair_b=rng.integers(0, len(items), n),
        pair_w=rng.random(n),
    )
    records = encode_batch([d], WRITER, 1, SPANS)
    assert len(records) > 1
    assert max(map(len, records)) <= MAX_RECORD_BYTES
    assert sum(len(decode_deltas(r).pair_a) for r in records) == n


def test_an_entry_too_large_to_fit_is_refused() -> None:
    d = SignalDeltas(t_ref=1, items=("x" * 500,), pop_item=np.array([0]), pop_w=np.array([1.0]))
    with pytest.raises(SignalCodecError):
        encode_batch([d], WRITER, 1, (), 200)


def test_the_deltas_of_several_results_are_parts_of_one_batch() -> None:
    a = SignalDeltas(t_ref=1, items=("a",), pop_item=np.array([0]), pop_w=np.array([1.0]))
    b = SignalDeltas(t_ref=2, items=("b",), pop_item=np.array([0]), pop_w=np.array([2.0]))
    records = encode_batch([a, SignalDeltas(), b], WRITER, 3, SPANS)
    got = [decode_record(r) for r in records]
    assert [(d.items, d.t_ref) for d, _ in got] == [(("a",), 1), (("b",), 2)]
    assert [(m.part, m.parts) for _, m in got if m is not None] == [(0, 2), (1, 2)]
    assert encode_batch([SignalDeltas()], WRITER, 4, SPANS) == []


def test_garbage_is_refused() -> None:
    with pytest.raises(SignalCodecError):
        decode_deltas(b"not a record at all")
    raw = encode_deltas(
        SignalDeltas(t_ref=1, items=("a",), pop_item=np.array([0]), pop_w=np.array([1.0]))
    )
    with pytest.raises(SignalCodecError):
        decode_deltas(raw[:-3])
