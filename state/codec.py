"""The versioned binary codec of :class:`~state.user.UserState` (store values, changelogs).

Layout (little-endian), version 2 (version 1 is still read)::

    "ITUS" | version u8 | dim u32 | t_ref i64 | watermark i64 | n_events i64
    | user_id (str) | short f64[dim] | long f64[dim]
    | levels u32 | per level: categories (strs) | short f64[n] | long f64[n]
    | recent (strs) | recent_ts i64[n] | recent_w f64[n]
    | consumed (strs) | disliked (strs) | event_ids (strs)
    | offset keys (strs) | offsets i64[n]
    | drift: in_episode u8 | streak i64 | streak_start_ts i64 | last_alert_ts i64
    | crc32 u32 of everything before it

``strs`` (version 2) = count u32 | form u8 | form 1 (no string holds NUL): blob length u32 and
the strings joined by NUL, UTF-8 (one ``split`` to read: a user remembers thousands of item
and event ids, decoded at every batch that touches the user); form 0: byte lengths
u32[count] and the UTF-8 blob. Version 1's ``strs`` is form 0 without the form byte.
Any failure to decode (truncation,
bit flips caught by the CRC, an unknown version) raises :class:`StateCodecError` naming the
user when it could be read (or the ``key`` given by the caller).
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from state.errors import StateCodecError
from state.user import DriftState, UserState

__all__ = ["CODEC_VERSION", "decode_user", "encode_user"]

CODEC_VERSION = 2
_VERSIONS = (1, 2)
_U8 = struct.Struct("<B")
_MAGIC = b"ITUS"
_HEAD = struct.Struct("<4sBIqqq")
_DRIFT = struct.Struct("<Bqqq")
_U32 = struct.Struct("<I")


def _strs(out: list[bytes], items: Sequence[str]) -> None:
    joined = "\0".join(items)
    if joined.count("\0") == max(len(items) - 1, 0):  # no string holds NUL
        blob = joined.encode("utf-8")
        out.append(_STRS_JOINED.pack(len(items), 1, len(blob)))
        out.append(blob)
        return
    blobs = [s.encode("utf-8") for s in items]
    out.append(_STRS_LENGTHS.pack(len(items), 0))
    out.append(np.fromiter(map(len, blobs), dtype="<u4", count=len(blobs)).tobytes())
    out.append(b"".join(blobs))


_STRS_JOINED = struct.Struct("<IBI")
_STRS_LENGTHS = struct.Struct("<IB")


def _arr(out: list[bytes], values: object, dtype: str) -> None:
    out.append(np.asarray(values, dtype=dtype).tobytes())


def encode_user(state: UserState) -> bytes:
    """The bytes of ``state`` (lossless: float64 sums, every memory)."""
    try:
        out: list[bytes] = [
            _HEAD.pack(
                _MAGIC, CODEC_VERSION, state.dim, state.t_ref, state.watermark, state.n_events
            )
        ]
        _strs(out, [state.user_id])
        _arr(out, state.short, "<f8")
        _arr(out, state.long, "<f8")
        out.append(_U32.pack(len(state.categories)))
        for level in state.categories:
            _strs(out, list(level))
            pairs = np.asarray(list(level.values()), dtype="<f8").reshape(-1, 2)
            out.append(np.ascontiguousarray(pairs[:, 0]).tobytes())
            out.append(np.ascontiguousarray(pairs[:, 1]).tobytes())
        _strs(out, state.recent_items)
        _arr(out, state.recent_ts, "<i8")
        _arr(out, state.recent_w, "<f8")
        _strs(out, list(state.consumed))
        _strs(out, list(state.disliked))
        _strs(out, list(state.event_ids))
        _strs(out, list(state.offsets))
        _arr(out, list(state.offsets.values()), "<i8")
        d = state.drift
        out.append(_DRIFT.pack(d.in_episode, d.streak, d.streak_start_ts, d.last_alert_ts))
        body = b"".join(out)
    except (struct.error, ValueError, TypeError, OverflowError, UnicodeError) as exc:
        raise StateCodecError(f"cannot encode user state: {exc}", state.user_id) from exc
    return body + _U32.pack(zlib.crc32(body))


class _Reader:
    __slots__ = ("buf", "pos", "version")

    def __init__(self, buf: bytes, version: int) -> None:
        self.buf = memoryview(buf)
        self.pos = 0
        self.version = version

    def take(self, n: int) -> memoryview:
        if n < 0 or self.pos + n > len(self.buf):
            raise ValueError("truncated")
        view = self.buf[self.pos : self.pos + n]
        self.pos += n
        return view

    def arr(self, dtype: str, count: int) -> npt.NDArray[Any]:
        size = np.dtype(dtype).itemsize
        return np.frombuffer(self.take(size * count), dtype=dtype).copy()

    def strs(self) -> list[str]:
        (n,) = _U32.unpack(self.take(4))
        form = _U8.unpack(self.take(1))[0] if self.version >= 2 else 0
        if form == 1:
            (size,) = _U32.unpack(self.take(4))
            out = str(self.take(size), "utf-8").split("\0") if n else []
            if len(out) != n:
                raise ValueError(f"{len(out)} strings where {n} were written")
            return out
        if form != 0:
            raise ValueError(f"unknown string list form {form}")
        lengths = self.arr("<u4", n)
        blob = bytes(self.take(int(lengths.sum())))
        ends = np.cumsum(lengths, dtype=np.int64).tolist()
        starts = [0, *ends[:-1]] if ends else []
        return [blob[a:b].decode("utf-8") for a, b in zip(starts, ends, strict=True)]


def decode_user(data: bytes, key: str | None = None) -> UserState:
    """The state encoded by :func:`encode_user`; ``key`` names the user in errors."""
    user_id = key
    try:
        if len(data) < _HEAD.size + 4:
            raise ValueError(f"{len(data)} bytes is too short")
        body, (crc,) = data[:-4], _U32.unpack(data[-4:])
        magic, version, dim, t_ref, watermark, n_events = _HEAD.unpack_from(body)
        if magic != _MAGIC:
            raise ValueError(f"bad magic {magic!r}")
        if version not in _VERSIONS:
            raise ValueError(f"unsupported codec version {version}")
        r = _Reader(body, version)
        r.pos = _HEAD.size
        (user_id,) = r.strs()
        if zlib.crc32(body) != crc:
            raise ValueError("checksum mismatch (corrupt bytes)")
        short, long = r.arr("<f8", dim), r.arr("<f8", dim)
        (n_levels,) = _U32.unpack(r.take(4))
        categories: list[dict[str, list[float]]] = []
        for _ in range(n_levels):
            names = r.strs()
            cs, cl = r.arr("<f8", len(names)).tolist(), r.arr("<f8", len(names)).tolist()
            categories.append({n: [a, b] for n, a, b in zip(names, cs, cl, strict=True)})
        recent = r.strs()
        rts, rw = r.arr("<i8", len(recent)).tolist(), r.arr("<f8", len(recent)).tolist()
        consumed, disliked, event_ids, okeys = r.strs(), r.strs(), r.strs(), r.strs()
        ovals = r.arr("<i8", len(okeys)).tolist()
        ep, streak, start, last = _DRIFT.unpack(r.take(_DRIFT.size))
        if r.pos != len(body):
            raise ValueError(f"{len(body) - r.pos} trailing bytes")
    except (struct.error, ValueError, UnicodeDecodeError, IndexError) as exc:
        raise StateCodecError(f"cannot decode user state: {exc}", user_id) from exc
    return UserState(
        user_id=user_id,
        short=short,
        long=long,
        t_ref=t_ref,
        watermark=watermark,
        n_events=n_events,
        categories=categories,
        recent_items=recent,
        recent_ts=rts,
        recent_w=rw,
        consumed=dict.fromkeys(consumed),
        disliked=dict.fromkeys(disliked),
        event_ids=dict.fromkeys(event_ids),
        offsets=dict(zip(okeys, ovals, strict=True)),
        drift=DriftState(bool(ep), streak, start, last),
    )
