"""Signals checkpoints: the blob, its chunks in two slots, and picking the newest complete."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np
import pytest

from state.catalog import Catalog
from state.signals import SignalDeltas, Signals
from streams.kafka.signal_ledger import LedgerState
from streams.kafka.signals_checkpoint import (
    Checkpoint,
    CheckpointError,
    checkpoint_records,
    decode_checkpoint,
    encode_checkpoint,
    read_checkpoints,
)

W1, W2 = b"\x01" * 16, b"\x02" * 16


def _checkpoint() -> Checkpoint:
    cat, sig = Catalog(2), Signals(1e9, 3, 1e8)
    d = SignalDeltas(
        t_ref=7,
        items=("a", "b", "c"),
        pop_item=np.array([0, 2]),
        pop_w=np.array([1.0, 0.5]),
        pair_a=np.array([0, 1]),
        pair_b=np.array([1, 0]),
        pair_w=np.array([0.25, 0.25]),
    )
    sig.apply(d, cat)
    ledger = LedgerState({W1: [1, 2, 5]}, {("events", 3): 41}, [b"part-bytes"], 2, 1)
    return Checkpoint({0: 10, 1: 4}, sig.totals(cat), ledger, (1e9, 1e8))


def test_the_blob_round_trips() -> None:
    c = _checkpoint()
    back = decode_checkpoint(encode_checkpoint(c))
    assert (back.positions, back.ledger, back.half_lives) == (c.positions, c.ledger, c.half_lives)
    t, b = c.totals, back.totals
    assert (b.items, b.covis_t_ref, b.trending_t_ref) == (t.items, t.covis_t_ref, t.trending_t_ref)
    for name in ("nbr", "w", "deg", "pop"):
        assert np.array_equal(getattr(b, name), getattr(t, name)), name


@pytest.mark.parametrize(
    "blob", [b"", b"garbage", b"PK\x03\x04" + b"\x00" * 40], ids=["empty", "garbage", "zip"]
)
def test_an_unreadable_blob_is_a_checkpoint_error(blob: bytes) -> None:
    with pytest.raises(CheckpointError):
        decode_checkpoint(blob)


def _latest(*groups: Sequence[tuple[bytes, bytes | None]]) -> dict[bytes, bytes]:
    """Each key's latest value, as a read of the compacted topic gives (``None``: deleted)."""
    out: dict[bytes, bytes] = {}
    for records in groups:
        for key, value in records:
            if value is None:
                out.pop(key, None)
            else:
                out[key] = value
    return out


def test_complete_checkpoints_come_first_covering_the_most_first() -> None:
    old = checkpoint_records(b"x" * 2500, covered=10, writer=W1, seq=1, chunk_bytes=1000)
    new = checkpoint_records(b"y" * 2500, covered=20, writer=W1, seq=2, chunk_bytes=1000)
    assert [k for k, _ in old] == [f"{W1.hex()}/1/{i}".encode() for i in range(3)]
    # another writer dies after two of three chunks of a checkpoint covering more
    newer = checkpoint_records(b"z" * 2500, covered=30, writer=W2, seq=1, chunk_bytes=1000)
    found = read_checkpoints(_latest(old, new, newer[:2]))
    assert [(f.covered, f.blob) for f in found] == [
        (20, b"y" * 2500),
        (10, b"x" * 2500),
        (30, None),
    ]
    assert found[2].keys == tuple(k for k, _ in newer[:2])
    found = read_checkpoints(_latest(old, new, newer))
    assert [(f.covered, f.writer, f.seq) for f in found] == [(30, W2, 1), (20, W1, 2), (10, W1, 1)]
    assert found[0].blob == b"z" * 2500


def test_deleted_corrupt_and_foreign_records_are_passed_over() -> None:
    good = checkpoint_records(b"g" * 10, covered=5, writer=W1, seq=1)
    bad = checkpoint_records(b"b" * 10, covered=9, writer=W1, seq=2)
    key, value = bad[0]
    flipped = value[:-1] + bytes([value[-1] ^ 1])  # the crc catches it
    found = read_checkpoints(_latest(good, [(key, flipped), (b"junk", b"xx")]))
    assert [(f.covered, f.blob) for f in found] == [(5, b"g" * 10), (9, None)]
    assert read_checkpoints(_latest(good, [(good[0][0], None)])) == []  # a tombstone
    assert read_checkpoints({}) == []


def test_a_writer_id_is_sixteen_bytes() -> None:
    with pytest.raises(ValueError, match="16 bytes"):
        checkpoint_records(b"x", covered=0, writer=b"short", seq=1)


def test_a_plain_array_is_not_a_checkpoint() -> None:
    import io

    buf = io.BytesIO()
    np.save(buf, np.arange(3))
    with pytest.raises(CheckpointError, match="npz"):
        decode_checkpoint(buf.getvalue())


def test_ids_with_a_newline_are_refused_and_a_lone_empty_id_survives() -> None:
    c = _checkpoint()
    one = dataclasses.replace(
        c.totals,
        items=("",),
        nbr=np.full((1, 3), -1, np.int32),
        w=np.zeros((1, 3)),
        deg=np.ones(1),
        pop=np.ones(1),
    )
    back = decode_checkpoint(encode_checkpoint(dataclasses.replace(c, totals=one)))
    assert back.totals.items == ("",)
    bad = dataclasses.replace(one, items=("a\nb",))
    with pytest.raises(CheckpointError, match="newline"):
        encode_checkpoint(dataclasses.replace(c, totals=bad))


def test_a_checkpoint_missing_a_field_is_a_checkpoint_error() -> None:
    import io
    import json

    c = _checkpoint()
    with np.load(io.BytesIO(encode_checkpoint(c))) as z:
        arrays = {k: z[k] for k in z.files}
    meta = json.loads(arrays["meta"].tobytes())
    del meta["done"]
    arrays["meta"] = np.frombuffer(json.dumps(meta).encode(), np.uint8)
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    with pytest.raises(CheckpointError, match="done"):
        decode_checkpoint(buf.getvalue())
