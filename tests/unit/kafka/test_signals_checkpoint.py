"""Signals checkpoints: the blob, its chunks in two slots, and picking the newest complete."""

from __future__ import annotations

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
    latest_checkpoint,
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


def test_the_newest_complete_checkpoint_is_found_in_either_slot() -> None:
    old = checkpoint_records(b"x" * 2500, covered=10, writer=W1, slot=0, chunk_bytes=1000)
    new = checkpoint_records(b"y" * 2500, covered=20, writer=W1, slot=1, chunk_bytes=1000)
    assert [k for k, _ in old] == [b"0/0", b"0/1", b"0/2"]
    found = latest_checkpoint([*old, *new])
    assert found is not None
    assert (found.blob, found.slot, found.covered) == (b"y" * 2500, 1, 20)
    # the next checkpoint overwrites slot 0 and its writer dies after two of three chunks:
    # slot 1 still holds a complete one
    newer = checkpoint_records(b"z" * 2500, covered=30, writer=W2, slot=0, chunk_bytes=1000)
    found = latest_checkpoint([*old, *new, *newer[:2]])
    assert found is not None
    assert found.covered == 20
    found = latest_checkpoint([*old, *new, *newer])
    assert found is not None
    assert (found.blob, found.covered) == (b"z" * 2500, 30)


def test_deleted_corrupt_and_foreign_records_are_passed_over() -> None:
    good = checkpoint_records(b"g" * 10, covered=5, writer=W1, slot=0)
    bad = checkpoint_records(b"b" * 10, covered=9, writer=W1, slot=1)
    key, value = bad[0]
    flipped = value[:-1] + bytes([value[-1] ^ 1])  # the crc catches it
    found = latest_checkpoint([*good, (key, flipped), (b"junk", b"xx"), (None, b"nokey")])
    assert found is not None
    assert found.blob == b"g" * 10
    assert latest_checkpoint([*good, (good[0][0], None)]) is None  # a tombstone
    assert latest_checkpoint([]) is None


def test_a_writer_id_is_sixteen_bytes() -> None:
    with pytest.raises(ValueError, match="16 bytes"):
        checkpoint_records(b"x", covered=0, writer=b"short", slot=0)


def test_a_plain_array_is_not_a_checkpoint() -> None:
    import io

    buf = io.BytesIO()
    np.save(buf, np.arange(3))
    with pytest.raises(CheckpointError, match="npz"):
        decode_checkpoint(buf.getvalue())
