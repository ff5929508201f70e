"""Binary wire format of :class:`state.signals.SignalDeltas` on the ``signals`` topic.

JSON would make a 1,000-event batch's co-visitation deltas (tens of thousands of pairs) a
megabyte of text; this format is the raw arrays. Version 2 (what workers write) names the
batch the deltas come from, so that every reader applies each batch exactly once
(:mod:`streams.kafka.signal_ledger`)::

    magic b"ITSD" | version u8 | t_ref i64 | n_items u32 | n_pop u32 | n_pairs u32
    | v2 only: writer 16 bytes | seq u64 | part u16 | parts u16 | n_spans u16
    |          spans: (topic length u16 | topic UTF-8 | partition i32 | first i64 | last i64)
    | items (UTF-8, "\\n"-joined, u32 length first)
    | pop_item i32[n_pop] | pop_w f64[n_pop] | pair_a i32[n_pairs] | pair_b i32[n_pairs]
    | pair_w f64[n_pairs]

``writer`` is one worker process (random at start), ``seq`` its engine calls in order,
``part``/``parts`` the records one call's deltas were cut into, and the spans the input
offsets (logical topic, partition, first, last) of the call. Version 1 (no batch) still
decodes; such a record is applied as it comes.

Weights stay float64 so that merging deltas from several workers is exact addition.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from state.signals import SignalDeltas

__all__ = [
    "MAX_RECORD_BYTES",
    "BatchMark",
    "SignalCodecError",
    "Span",
    "decode_deltas",
    "decode_record",
    "encode_batch",
    "encode_deltas",
    "split_deltas",
]

_MAGIC = b"ITSD"
_V1, _V2 = 1, 2
_HEADER = struct.Struct("<4sBqIII")
_MARK = struct.Struct("<16sQHHH")
_SPAN = struct.Struct("<iqq")
MAX_RECORD_BYTES = 900_000
"""The largest record :func:`encode_batch` makes: below librdkafka's default
``message.max.bytes`` (1,000,000, the record's own overhead included)."""


class SignalCodecError(ValueError):
    """A ``signals`` record that cannot be decoded (or deltas that cannot be encoded)."""


class Span(NamedTuple):
    """The input offsets ``first..last`` of one (logical) topic partition in a batch."""

    topic: str
    partition: int
    first: int
    last: int


@dataclass(frozen=True, slots=True)
class BatchMark:
    """Which batch a record's deltas belong to, and which of its records it is."""

    writer: bytes  # 16 bytes
    seq: int
    part: int
    parts: int
    spans: tuple[Span, ...] = ()

    def _pack(self) -> bytes:
        if len(self.writer) != 16:
            raise SignalCodecError("a writer id is 16 bytes")
        if not 0 <= self.part < self.parts <= 0xFFFF or len(self.spans) > 0xFFFF:
            raise SignalCodecError(f"bad part {self.part} of {self.parts}")
        out = [_MARK.pack(self.writer, self.seq, self.part, self.parts, len(self.spans))]
        for s in self.spans:
            topic = s.topic.encode()
            out += [struct.pack("<H", len(topic)), topic, _SPAN.pack(s.partition, s.first, s.last)]
        return b"".join(out)


def encode_deltas(d: SignalDeltas, mark: BatchMark | None = None) -> bytes:
    """Serialise ``d`` (inverse of :func:`decode_record`): version 2 with ``mark``, else 1."""
    names = "\n".join(d.items).encode()
    version = _V1 if mark is None else _V2
    parts = [
        _HEADER.pack(_MAGIC, version, d.t_ref, len(d.items), len(d.pop_item), len(d.pair_a)),
        b"" if mark is None else mark._pack(),
        struct.pack("<I", len(names)),
        names,
        d.pop_item.astype("<i4").tobytes(),
        d.pop_w.astype("<f8").tobytes(),
        d.pair_a.astype("<i4").tobytes(),
        d.pair_b.astype("<i4").tobytes(),
        d.pair_w.astype("<f8").tobytes(),
    ]
    return b"".join(parts)


def _unpack_mark(raw: bytes, pos: int) -> tuple[BatchMark, int]:
    writer, seq, part, parts, n_spans = _MARK.unpack_from(raw, pos)
    pos += _MARK.size
    spans: list[Span] = []
    for _ in range(n_spans):
        (n,) = struct.unpack_from("<H", raw, pos)
        topic = raw[pos + 2 : pos + 2 + n].decode()
        pos += 2 + n
        partition, first, last = _SPAN.unpack_from(raw, pos)
        pos += _SPAN.size
        spans.append(Span(topic, partition, first, last))
    if not 0 <= part < parts:
        raise SignalCodecError(f"bad part {part} of {parts}")
    return BatchMark(writer, seq, part, parts, tuple(spans)), pos


def decode_record(raw: bytes) -> tuple[SignalDeltas, BatchMark | None]:
    """Parse a record written by :func:`encode_deltas`: the deltas and their batch (``None``
    for version 1); raises :class:`SignalCodecError`."""
    try:
        magic, version, t_ref, n_items, n_pop, n_pairs = _HEADER.unpack_from(raw, 0)
        if magic != _MAGIC or version not in (_V1, _V2):
            raise SignalCodecError(f"not a signals record: {raw[:8]!r}")
        pos = _HEADER.size
        mark = None
        if version == _V2:
            mark, pos = _unpack_mark(raw, pos)
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
    deltas = SignalDeltas(
        t_ref=t_ref,
        items=items,
        pop_item=pop_item,
        pop_w=pop_w,
        pair_a=pair_a,
        pair_b=pair_b,
        pair_w=pair_w,
    )
    return deltas, mark


def decode_deltas(raw: bytes) -> SignalDeltas:
    """The deltas of a record (its batch, if any, dropped); see :func:`decode_record`."""
    return decode_record(raw)[0]


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


def split_deltas(d: SignalDeltas, max_bytes: int) -> list[SignalDeltas]:
    """``d`` cut in parts whose encoding (version 1) takes at most ``max_bytes`` each
    (halved until they fit; every cut part names only the items it uses). Applying the
    parts = applying ``d``. Errors: ``SignalCodecError`` when a single entry does not fit."""
    size = len(encode_deltas(d))
    if size <= max_bytes:
        return [d]
    n_pop, n_pairs = len(d.pop_item), len(d.pair_a)
    if n_pop + n_pairs <= 1:
        raise SignalCodecError(f"one signal delta takes {size} bytes (> {max_bytes})")
    half = (n_pop + n_pairs) // 2
    cut_pop, cut_pairs = min(half, n_pop), max(0, half - n_pop)
    first = _subset(d, slice(0, cut_pop), slice(0, cut_pairs))
    second = _subset(d, slice(cut_pop, n_pop), slice(cut_pairs, n_pairs))
    return split_deltas(first, max_bytes) + split_deltas(second, max_bytes)


def encode_batch(
    deltas: list[SignalDeltas],
    writer: bytes,
    seq: int,
    spans: tuple[Span, ...],
    max_bytes: int = MAX_RECORD_BYTES,
) -> list[bytes]:
    """One batch's deltas as version-2 records of at most ``max_bytes`` each, every one
    marked ``writer``/``seq``, its part number and the part count, and the batch's spans."""
    overhead = len(BatchMark(writer, seq, 0, 1, spans)._pack())
    if overhead >= max_bytes:
        raise SignalCodecError(f"the batch's mark takes {overhead} bytes (> {max_bytes})")
    pieces = [p for d in deltas if len(d) for p in split_deltas(d, max_bytes - overhead)]
    return [
        encode_deltas(p, BatchMark(writer, seq, i, len(pieces), spans))
        for i, p in enumerate(pieces)
    ]
