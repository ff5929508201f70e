"""Checkpoints of the global signals, so that a start need not re-read all of ``signals``.

A worker's aggregated signals (:class:`state.signals.SignalTotals`) and its
:class:`~streams.kafka.signal_ledger.SignalLedger` are, together, what reading ``signals`` up
to some positions produced. A checkpoint holds both and those positions (next offset per
partition); a worker that loads it and reads ``signals`` on from there holds what a worker
that read the topic from its beginning holds (tested), so records older than the newest
checkpoint are no longer needed (and may be deleted by the topic's retention).

The blob is a NumPy ``.npz`` archive (no pickles: ``allow_pickle=False`` on reading) of the
arrays plus a JSON ``meta`` entry. It goes to the compacted topic ``signals.checkpoints`` in
chunks of at most :data:`CHUNK_BYTES`, keyed ``<slot>/<index>``: a writer alternates
between two slots, so while it writes one (and maybe dies halfway) the other still holds a
complete checkpoint, and compaction replaces a slot's chunks by the next checkpoint's.
:func:`latest_checkpoint` picks, from a read of the whole topic, the complete checkpoint
covering the most ``signals`` records. Each chunk starts with::

    magic b"ITCK" | version u8 | covered i64 (sum of the positions) | writer 16 bytes
    | index u32 | count u32 | blob crc32 u32
"""

from __future__ import annotations

import io
import json
import logging
import struct
import zipfile
import zlib
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from state.signals import SignalTotals
from streams.kafka.signal_ledger import LedgerState

__all__ = [
    "CHUNK_BYTES",
    "Checkpoint",
    "CheckpointError",
    "Found",
    "checkpoint_records",
    "decode_checkpoint",
    "encode_checkpoint",
    "latest_checkpoint",
]

log = logging.getLogger(__name__)

CHUNK_BYTES = 900_000
"""Under the broker's default record size limit (1 MB), like the signal records."""
_VERSION = 1
_CHUNK = struct.Struct("<4sBq16sIII")
_MAGIC = b"ITCK"


class CheckpointError(ValueError):
    """A checkpoint blob that cannot be read."""


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """What reading ``signals`` up to ``positions`` (partition → next offset) produced.

    ``half_lives``: the co-visitation and trending half-lives (ms) the sums were kept with;
    a worker configured otherwise does not load it.
    """

    positions: dict[int, int]
    totals: SignalTotals
    ledger: LedgerState
    half_lives: tuple[float, float]


def encode_checkpoint(c: Checkpoint) -> bytes:
    """The ``.npz`` blob of ``c``."""
    t, led = c.totals, c.ledger
    meta = {
        "version": _VERSION,
        "positions": {str(p): o for p, o in c.positions.items()},
        "half_lives": list(c.half_lives),
        "covis_t_ref": t.covis_t_ref,
        "trending_t_ref": t.trending_t_ref,
        "done": {w.hex(): seqs for w, seqs in led.done.items()},
        "high": [[topic, part, off] for (topic, part), off in led.high.items()],
        "duplicates": led.duplicates,
        "abandoned": led.abandoned,
    }
    buf = io.BytesIO()
    np.savez(
        buf,
        meta=np.frombuffer(json.dumps(meta).encode(), np.uint8),
        items=np.frombuffer("\n".join(t.items).encode(), np.uint8),
        nbr=np.ascontiguousarray(t.nbr, np.int32),
        w=np.ascontiguousarray(t.w, np.float64),
        deg=np.ascontiguousarray(t.deg, np.float64),
        pop=np.ascontiguousarray(t.pop, np.float64),
        pending=np.frombuffer(b"".join(led.pending), np.uint8),
        pending_len=np.asarray([len(p) for p in led.pending], np.int64),
    )
    return buf.getvalue()


def decode_checkpoint(blob: bytes) -> Checkpoint:
    """Read what :func:`encode_checkpoint` wrote; :class:`CheckpointError` otherwise."""
    try:
        loaded = np.load(io.BytesIO(blob), allow_pickle=False)
        if not isinstance(loaded, np.lib.npyio.NpzFile):
            raise CheckpointError("a checkpoint is an .npz archive")
        with loaded as z:
            meta = json.loads(z["meta"].tobytes())
            if meta["version"] != _VERSION:
                raise CheckpointError(f"unknown checkpoint version {meta['version']}")
            names = z["items"].tobytes().decode()
            items = tuple(names.split("\n")) if names else ()
            nbr, w, deg, pop = z["nbr"], z["w"], z["deg"], z["pop"]
            pending_raw, cuts = z["pending"].tobytes(), np.cumsum(z["pending_len"]).tolist()
    except CheckpointError:
        raise
    except (ValueError, KeyError, OSError, EOFError, zipfile.BadZipFile, UnicodeDecodeError) as exc:
        raise CheckpointError(f"unreadable checkpoint: {exc}") from exc
    n = len(items)
    if not (len(deg) == len(pop) == len(nbr) == len(w) == n) or nbr.shape != w.shape:
        raise CheckpointError("checkpoint arrays differ in length")
    if nbr.size and (nbr.min() < -1 or nbr.max() >= n):
        raise CheckpointError("checkpoint neighbour out of range")
    starts = [0, *cuts[:-1]] if cuts else []
    pending = [pending_raw[a:b] for a, b in zip(starts, cuts, strict=True)]
    totals = SignalTotals(items, meta["covis_t_ref"], meta["trending_t_ref"], nbr, w, deg, pop)
    ledger = LedgerState(
        done={bytes.fromhex(k): list(v) for k, v in meta["done"].items()},
        high={(str(t), int(p)): int(o) for t, p, o in meta["high"]},
        pending=pending,
        duplicates=int(meta["duplicates"]),
        abandoned=int(meta["abandoned"]),
    )
    positions = {int(p): int(o) for p, o in meta["positions"].items()}
    hl = meta["half_lives"]
    return Checkpoint(positions, totals, ledger, (float(hl[0]), float(hl[1])))


def checkpoint_records(
    blob: bytes, *, covered: int, writer: bytes, slot: int, chunk_bytes: int = CHUNK_BYTES
) -> list[tuple[bytes, bytes]]:
    """``(key, value)`` records of ``blob`` in ``slot`` (``covered``: the sum of its
    positions, which orders checkpoints; ``writer``: 16 bytes naming the writer)."""
    if len(writer) != 16:
        raise ValueError("a writer id is 16 bytes")
    pieces = [blob[i : i + chunk_bytes] for i in range(0, len(blob), chunk_bytes)] or [b""]
    crc = zlib.crc32(blob)
    return [
        (
            f"{slot}/{i}".encode(),
            _CHUNK.pack(_MAGIC, _VERSION, covered, writer, i, len(pieces), crc) + piece,
        )
        for i, piece in enumerate(pieces)
    ]


@dataclass(frozen=True, slots=True)
class Found:
    """The newest complete checkpoint read: its blob, slot and how much it covers."""

    blob: bytes
    slot: int
    covered: int


def latest_checkpoint(records: Iterable[tuple[bytes | None, bytes | None]]) -> Found | None:
    """The complete checkpoint covering the most, from ``records`` of the checkpoint topic
    in offset order (a later value of a key replaces an earlier one; ``None``: deleted)."""
    latest: dict[bytes, bytes] = {}
    for key, value in records:
        if key is None:
            continue
        if value is None:
            latest.pop(key, None)
        else:
            latest[key] = value
    groups: dict[tuple[int, int, bytes, int, int], dict[int, bytes]] = {}
    for key, value in latest.items():
        try:
            slot = int(key.split(b"/", 1)[0])
            magic, version, covered, writer, index, count, crc = _CHUNK.unpack_from(value)
        except (ValueError, struct.error):
            log.warning("skipping a malformed checkpoint record %r", key[:40])
            continue
        if magic != _MAGIC or version != _VERSION or index >= count:
            log.warning("skipping a checkpoint record of another format %r", key[:40])
            continue
        groups.setdefault((covered, slot, writer, count, crc), {})[index] = value[_CHUNK.size :]
    for (covered, slot, _, count, crc), parts in sorted(groups.items(), reverse=True):
        if len(parts) != count:
            continue  # its writer is still at it, or died halfway
        blob = b"".join(parts[i] for i in range(count))
        if zlib.crc32(blob) == crc:
            return Found(blob, slot, covered)
        log.warning("skipping a corrupt checkpoint in slot %d", slot)
    return None
