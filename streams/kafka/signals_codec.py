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

__all__ = ["SignalCodecError", "decode_deltas", "encode_deltas", "split_deltas"]

_MAGIC = b"ITSD"
_VERSION = 1
_HEADER = struct.Struct("<4sBqIII")


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


def split_deltas(d: SignalDeltas, max_pairs: int) -> list[SignalDeltas]:
    """Cut ``d`` into parts of at most ``max_pairs`` pairs (the first carries the popularity),
    so that no record exceeds the topic's message size. Applying the parts = applying ``d``."""
    if len(d.pair_a) <= max_pairs:
        return [d]
    parts = []
    for i, start in enumerate(range(0, len(d.pair_a), max_pairs)):
        sl = slice(start, start + max_pairs)
        parts.append(
            SignalDeltas(
                t_ref=d.t_ref,
                items=d.items,
                pop_item=d.pop_item if i == 0 else np.zeros(0, np.int64),
                pop_w=d.pop_w if i == 0 else np.zeros(0),
                pair_a=d.pair_a[sl],
                pair_b=d.pair_b[sl],
                pair_w=d.pair_w[sl],
            )
        )
    return parts
