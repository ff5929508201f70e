"""Binary wire format of :class:`state.signals.SignalDeltas` on the ``signals`` topic.

JSON would make a 1,000-event batch's co-visitation deltas (tens of thousands of pairs) a
megabyte of text; this format is the raw arrays::

    magic b"ITSD" | version u8 | t_ref i64 | n_items u32 | n_pop u32 | n_pairs u32
    | items (UTF-8, "\\n"-joined, u32 length first)
    | pop_item i32[n_pop] | pop_w f64[n_pop] | pair_a i32[n_pairs] | pair_b i32[n_pairs]
    | pair_w f64[n_pairs]

Weights stay float64 so that merging deltas from several workers is exact addition.
"""

from __future__ import annotations

import struct

import numpy as np

from state.signals import SignalDeltas

__all__ = ["MAX_RECORD_BYTES", "SignalCodecError", "decode_deltas", "encode_deltas", "encode_split"]

_MAGIC = b"ITSD"
_VERSION = 1
_HEADER = struct.Struct("<4sBqIII")
MAX_RECORD_BYTES = 900_000
"""The largest record :func:`encode_split` makes: below librdkafka's default
``message.max.bytes`` (1,000,000, the record's own overhead included)."""


class SignalCodecError(ValueError):
    """A ``signals`` record that cannot be decoded."""


def encode_deltas(d: SignalDeltas) -> bytes:
    """Serialise ``d`` (inverse of :func:`decode_deltas`)."""
    names = "\n".join(d.items).encode()
    parts = [
        _HEADER.pack(_MAGIC, _VERSION, d.t_ref, len(d.items), len(d.pop_item), len(d.pair_a)),
        struct.pack("<I", len(names)),
        names,
        d.pop_item.astype("<i4").tobytes(),
        d.pop_w.astype("<f8").tobytes(),
        d.pair_a.astype("<i4").tobytes(),
        d.pair_b.astype("<i4").tobytes(),
        d.pair_w.astype("<f8").tobytes(),
    ]
    return b"".join(parts)


def decode_deltas(raw: bytes) -> SignalDeltas:
    """Parse a record written by :func:`encode_deltas`; raises :class:`SignalCodecError`."""
    try:
        magic, version, t_ref, n_items, n_pop, n_pairs = _HEADER.unpack_from(raw, 0)
        if magic != _MAGIC or version != _VERSION:
            raise SignalCodecError(f"not a v{_VERSION} signals record: {raw[:8]!r}")
        pos = _HEADER.size
        (n_names,) = struct.unpack_from("<I", raw, pos)
        pos += 4
        names = raw[pos : pos + n_names].decode()
        pos += n_names
        items = tuple(names.split("\n")) if n_items else ()

        def take(dtype: str, n: int) -> np.ndarray:
            nonlocal pos
            size = np.dtype(dtype).itemsize * n
            if pos + size > len(raw):
                raise SignalCodecError("truncated signals record")
            arr = np.frombuffer(raw, dtype=dtype, count=n, offset=pos)
            pos += size
            return arr

        pop_item = take("<i4", n_pop).astype(np.int64)
        pop_w = take("<f8", n_pop).astype(np.float64)
        pair_a = take("<i4", n_pairs).astype(np.int64)
        pair_b = take("<i4", n_pairs).astype(np.int64)
        pair_w = take("<f8", n_pairs).astype(np.float64)
    except (struct.error, UnicodeDecodeError) as exc:
        raise SignalCodecError(f"malformed signals record: {exc}") from exc
    if len(items) != n_items:
        raise SignalCodecError("item count does not match the header")
    return SignalDeltas(
        t_ref=t_ref,
        items=items,
        pop_item=pop_item,
        pop_w=pop_w,
        pair_a=pair_a,
        pair_b=pair_b,
        pair_w=pair_w,
    )


def _subset(d: SignalDeltas, pop: slice, pairs: slice) -> SignalDeltas:
    """The entries ``pop`` and ``pairs`` of ``d``, naming only the items they use."""
    pop_item, pair_a, pair_b = d.pop_item[pop], d.pair_a[pairs], d.pair_b[pairs]
    used, inv = np.unique(np.concatenate([pop_item, pair_a, pair_b]), return_inverse=True)
    n_pop, n_pairs = len(pop_item), len(pair_a)
    inv = inv.astype(np.int64)
    return SignalDeltas(
        t_ref=d.t_ref,
        items=tuple(d.items[i] for i in used),
        pop_item=inv[:n_pop],
        pop_w=d.pop_w[pop],
        pair_a=inv[n_pop : n_pop + n_pairs],
        pair_b=inv[n_pop + n_pairs :],
        pair_w=d.pair_w[pairs],
    )


def encode_split(d: SignalDeltas, max_bytes: int = MAX_RECORD_BYTES) -> list[bytes]:
    """``d`` as records of at most ``max_bytes`` each (halved until they fit; every part
    names only the items it uses), so that no record exceeds the producer's or the topic's
    message size. Applying the parts = applying ``d``. Errors: ``SignalCodecError`` when a
    single entry does not fit."""
    raw = encode_deltas(d)
    if len(raw) <= max_bytes:
        return [raw]
    n_pop, n_pairs = len(d.pop_item), len(d.pair_a)
    if n_pop + n_pairs <= 1:
        raise SignalCodecError(f"one signal delta takes {len(raw)} bytes (> {max_bytes})")
    half = (n_pop + n_pairs) // 2
    cut_pop, cut_pairs = min(half, n_pop), max(0, half - n_pop)
    first = _subset(d, slice(0, cut_pop), slice(0, cut_pairs))
    second = _subset(d, slice(cut_pop, n_pop), slice(cut_pairs, n_pairs))
    return encode_split(first, max_bytes) + encode_split(second, max_bytes)
