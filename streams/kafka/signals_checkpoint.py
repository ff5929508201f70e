"""Checkpoints of the global signals, so that a start need not re-read all of ``signals``.

A worker's aggregated signals (:class:`state.signals.SignalTotals`) and its
:class:`~streams.kafka.signal_ledger.SignalLedger` are, together, what reading ``signals`` up
to some positions produced. A checkpoint holds both and those positions (next offset per
partition); a worker that loads it and reads ``signals`` on from there holds what a worker
that read the topic from its beginning holds (tested), so records older than the newest
checkpoint are no longer needed (and may be deleted by the topic's retention).

The blob is a NumPy ``.npz`` archive (no pickles: ``allow_pickle=False`` on reading) of the
arrays plus a JSON ``meta`` entry. It goes to the compacted topic ``signals.checkpoints`` in
chunks of at most :data:`CHUNK_BYTES`, under keys of its own (``<writer>/<seq>/<index>``), so
a writer that dies halfway, or two writing at once, never spoil a complete checkpoint; once
one is written its writer deletes (tombstones) the older ones it knows of but the best other
complete one. :func:`read_checkpoints` lists, from a read of the whole topic, the complete
checkpoints covering the most ``signals`` records first. Each chunk starts with::

    magic b"ITCK" | version u8 | covered i64 (sum of the positions) | writer 16 bytes
    | seq u64 | index u32 | count u32 | blob crc32 u32
"""

from __future__ import annotations

import io
import json
import logging
import struct
import zipfile
import zlib
from collections.abc import Mapping
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
    "read_checkpoints",
]

log = logging.getLogger(__name__)

CHUNK_BYTES = 900_000
"""Under the broker's default record size limit (1 MB), like the signal records."""
_VERSION = 1
_CHUNK = struct.Struct("<4sBq16sQIII")
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
    """The ``.npz`` blob of ``c`` (item ids are ``\\n``-joined, as on the signals topic)."""
    t, led = c.totals, c.ledger
    if any("\n" in item for item in t.items):
        raise CheckpointError("an item id with a newline cannot be checkpointed")
    meta = {
        "version": _VERSION,
        "n_items": len(t.items),
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
        return _decode(blob)
    except CheckpointError:
        raise
    except (
        ValueError,
        KeyError,
        TypeError,
        IndexError,
        OSError,
        EOFError,
        zipfile.BadZipFile,
        UnicodeDecodeError,
    ) as exc:
        raise CheckpointError(f"unreadable checkpoint: {exc!r}") from exc


def _decode(blob: bytes) -> Checkpoint:
    loaded = np.load(io.BytesIO(blob), allow_pickle=False)
    if not isinstance(loaded, np.lib.npyio.NpzFile):
        raise CheckpointError("a checkpoint is an .npz archive")
    with loaded as z:
        meta = json.loads(z["meta"].tobytes())
        if meta["version"] != _VERSION:
            raise CheckpointError(f"unknown checkpoint version {meta['version']}")
        n = int(meta["n_items"])
        items = tuple(z["items"].tobytes().decode().split("\n")) if n else ()
        nbr, w, deg, pop = z["nbr"], z["w"], z["deg"], z["pop"]
        pending_raw, cuts = z["pending"].tobytes(), np.cumsum(z["pending_len"]).tolist()
    if not (len(items) == len(deg) == len(pop) == len(nbr) == len(w) == n) or nbr.shape != w.shape:
        raise CheckpointError("checkpoint arrays differ in length")
    if nbr.size and (nbr.ndim != 2 or nbr.min() < -1 or nbr.max() >= n):
        raise CheckpointError("checkpoint neighbours out of range")
    starts = [0, *cuts[:-1]] if cuts else []
    pending = [pending_raw[a:b] for a, b in zip(starts, cuts, strict=True)]
    totals = SignalTotals(items, meta["covis_t_ref"], meta["trending_t_ref"], nbr, w, deg, pop)
    ledger = LedgerState(
        done={bytes.fromhex(k): [int(x) for x in v] for k, v in meta["done"].items()},
        high={(str(t), int(p)): int(o) for t, p, o in meta["high"]},
        pending=pending,
        duplicates=int(meta["duplicates"]),
        abandoned=int(meta["abandoned"]),
    )
    positions = {int(p): int(o) for p, o in meta["positions"].items()}
    hl = meta["half_lives"]
    return Checkpoint(positions, totals, ledger, (float(hl[0]), float(hl[1])))


def checkpoint_records(
    blob: bytes, *, covered: int, writer: bytes, seq: int, chunk_bytes: int = CHUNK_BYTES
) -> list[tuple[bytes, bytes]]:
    """``(key, value)`` records of ``blob``, keyed ``<writer hex>/<seq>/<index>`` (keys of
    their own: writing one never touches another checkpoint). ``covered``: the sum of its
    positions, which orders checkpoints; ``writer``: 16 bytes naming the writer; ``seq``:
    the writer's count of checkpoints."""
    if len(writer) != 16:
        raise ValueError("a writer id is 16 bytes")
    view = memoryview(blob)  # slices without copies; each record is one copy
    pieces = [view[i : i + chunk_bytes] for i in range(0, len(blob), chunk_bytes)] or [view]
    crc = zlib.crc32(blob)
    head = f"{writer.hex()}/{seq}/"
    return [
        (
            f"{head}{i}".encode(),
            b"".join(
                (_CHUNK.pack(_MAGIC, _VERSION, covered, writer, seq, i, len(pieces), crc), piece)
            ),
        )
        for i, piece in enumerate(pieces)
    ]


@dataclass(frozen=True, slots=True)
class Found:
    """One checkpoint in the topic: how many ``signals`` records it covers, its writer and
    number, the keys of its chunks, and its blob (``None``: incomplete or corrupt)."""

    covered: int
    writer: bytes
    seq: int
    keys: tuple[bytes, ...]
    blob: bytes | None


def read_checkpoints(latest: Mapping[bytes, bytes]) -> list[Found]:
    """The checkpoints in ``latest`` (each key's latest value in the checkpoint topic),
    complete ones first, covering the most first."""
    groups: dict[tuple[int, bytes, int, int, int], dict[int, tuple[bytes, memoryview]]] = {}
    for key, value in latest.items():
        try:
            magic, version, covered, writer, seq, index, count, crc = _CHUNK.unpack_from(value)
        except struct.error:
            log.warning("skipping a malformed checkpoint record %r", key[:40])
            continue
        if magic != _MAGIC or version != _VERSION or index >= count:
            log.warning("skipping a checkpoint record of another format %r", key[:40])
            continue
        group = groups.setdefault((covered, writer, seq, count, crc), {})
        group[index] = (key, memoryview(value)[_CHUNK.size :])
    found: list[Found] = []
    for (covered, writer, seq, count, crc), parts in groups.items():
        keys = tuple(k for k, _ in parts.values())
        blob = None
        if len(parts) == count:  # else its writer is still at it, or died halfway
            joined = b"".join(parts[i][1] for i in range(count))
            if zlib.crc32(joined) == crc:
                blob = joined
            else:
                log.warning("skipping a corrupt checkpoint (%d of writer %s)", seq, writer.hex())
        found.append(Found(covered, writer, seq, keys, blob))
    found.sort(key=lambda f: (f.blob is not None, f.covered, f.seq), reverse=True)
    return found
