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
    """Reads ``buf[:end]`` from ``pos`` on; every read checks its bounds (``ValueError``).

    Offsets into the one buffer, not slices of it: a state is decoded at every batch that
    touches a user whose decoded state is not cached, and a read is mostly call overhead.
    """

    __slots__ = ("buf", "end", "pos", "version")

    def __init__(self, buf: bytes, end: int, pos: int, version: int) -> None:
        self.buf = buf
        self.end = end
        self.pos = pos
        self.version = version

    def skip(self, n: int) -> int:
        """Advance by ``n`` bytes; the offset they start at."""
        pos = self.pos
        if n < 0 or pos + n > self.end:
            raise ValueError("truncated")
        self.pos = pos + n
        return pos

    def u32(self) -> int:
        return int(_U32.unpack_from(self.buf, self.skip(4))[0])

    def floats(self, count: int) -> npt.NDArray[np.float64]:
        """``count`` float64 as an array of its own."""
        pos = self.skip(8 * count)
        if count == 0:
            return np.zeros(0, np.float64)
        return np.frombuffer(self.buf, dtype="<f8", count=count, offset=pos).astype(np.float64)

    def values(self, code: str, count: int) -> list[Any]:
        """``count`` 8-byte values (``d``: float64, ``q``: int64) as a list."""
        pos = self.skip(8 * count)
        return list(struct.unpack_from(f"<{count}{code}", self.buf, pos))

    def strs(self) -> list[str]:
        buf, pos = self.buf, self.pos
        if self.version >= 2 and pos + _STRS_JOINED.size <= self.end and buf[pos + 4] == 1:
            n, _, size = _STRS_JOINED.unpack_from(buf, pos)  # the common form, in one read
            self.pos = pos + _STRS_JOINED.size
        else:
            n = self.u32()
            form = buf[self.skip(1)] if self.version >= 2 else 0
            if form == 0:
                return self._strs_by_length(n)
            if form != 1:
                raise ValueError(f"unknown string list form {form}")
            size = self.u32()
        pos = self.skip(size)
        out = buf[pos : pos + size].decode("utf-8").split("\0") if n else []
        if len(out) != n:
            raise ValueError(f"{len(out)} strings where {n} were written")
        return out

    def _strs_by_length(self, n: int) -> list[str]:
        """Form 0: ``n`` byte lengths, then the strings."""
        lengths = struct.unpack_from(f"<{n}I", self.buf, self.skip(4 * n))
        pos = self.skip(sum(lengths))
        out = []
        for length in lengths:
            out.append(self.buf[pos : pos + length].decode("utf-8"))
            pos += length
        return out


def decode_user(data: bytes, key: str | None = None) -> UserState:
    """The state encoded by :func:`encode_user`; ``key`` names the user in errors."""
    user_id = key
    data = bytes(data)
    try:
        end = len(data) - 4
        if end < _HEAD.size:
            raise ValueError(f"{len(data)} bytes is too short")
        (crc,) = _U32.unpack_from(data, end)
        magic, version, dim, t_ref, watermark, n_events = _HEAD.unpack_from(data)
        if magic != _MAGIC:
            raise ValueError(f"bad magic {magic!r}")
        if version not in _VERSIONS:
            raise ValueError(f"unsupported codec version {version}")
        r = _Reader(data, end, _HEAD.size, version)
        (user_id,) = r.strs()
        if zlib.crc32(memoryview(data)[:end]) != crc:
            raise ValueError("checksum mismatch (corrupt bytes)")
        short, long = r.floats(dim), r.floats(dim)
        n_levels = r.u32()
        categories: list[dict[str, list[float]]] = []
        for _ in range(n_levels):
            names = r.strs()
            cs, cl = r.values("d", len(names)), r.values("d", len(names))
            categories.append({n: [a, b] for n, a, b in zip(names, cs, cl, strict=True)})
        recent = r.strs()
        rts, rw = r.values("q", len(recent)), r.values("d", len(recent))
        consumed, disliked, event_ids, okeys = r.strs(), r.strs(), r.strs(), r.strs()
        ovals = r.values("q", len(okeys))
        ep, streak, start, last = _DRIFT.unpack_from(data, r.skip(_DRIFT.size))
        if r.pos != end:
            raise ValueError(f"{end - r.pos} trailing bytes")
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
