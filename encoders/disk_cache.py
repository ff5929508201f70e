"""``DiskEmbeddingCache``: the ``EmbeddingCache`` port on RocksDB (``rocksdict``), persistent.

Why RocksDB and not numpy files plus an index: a ``WriteBatch`` makes "store the vector, its
access mark, and the evictions" one atomic, write-ahead-logged step, so a crash never leaves an
index pointing at a missing or half-written vector; multi-get serves a whole batch in one call;
deletes are reclaimed by compaction; and it is already a dependency. One process holds a cache
directory at a time (RocksDB's lock): give each worker its own ``cache_dir``.

Layout (raw bytes, no pickling)::

    b"m:format"      -> b"1"
    b"v" + key (24)  -> float32 row, little-endian
    b"a" + key (24)  -> last-access tick, unsigned 64-bit big-endian

Eviction is least-recently-used: the in-memory order is rebuilt from the access ticks on open
(one scan of the ``a`` keys), and every hit or put writes its new tick, so the order survives a
restart.
"""

from __future__ import annotations

import struct
import threading
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from rocksdict import Options, Rdict, WriteBatch

from encoders.cache import Row
from encoders.errors import CacheError, EncoderConfigError
from encoders.protocol import Vectors

__all__ = ["FORMAT_VERSION", "DiskEmbeddingCache"]

FORMAT_VERSION = b"1"
_META = b"m:format"
_VEC = b"v"
_ACC = b"a"
_TICK = struct.Struct(">Q")


class DiskEmbeddingCache:
    """A persistent, bounded LRU ``EmbeddingCache`` in the directory ``path``."""

    def __init__(self, path: Path, max_items: int) -> None:
        if max_items < 1:
            raise EncoderConfigError(f"cache max_items must be >= 1, got {max_items}")
        self._path = path
        self._max_items = max_items
        self._lock = threading.Lock()
        try:
            path.mkdir(parents=True, exist_ok=True)
            self._db: Rdict | None = Rdict(str(path), Options(raw_mode=True))
        except Exception as exc:  # rocksdict raises bare Exception (e.g. the LOCK is held)
            raise CacheError(f"cannot open the embedding cache at {path}: {exc}") from exc
        self._order: OrderedDict[bytes, None] = OrderedDict()
        self._tick = 0
        self._load()

    @property
    def path(self) -> Path:
        """The cache directory."""
        return self._path

    @property
    def max_items(self) -> int:
        """The size bound."""
        return self._max_items

    def __len__(self) -> int:
        return len(self._order)

    def _open_db(self) -> Rdict:
        if self._db is None:
            raise CacheError(f"the embedding cache at {self._path} is closed")
        return self._db

    def _load(self) -> None:
        db = self._open_db()
        try:
            version = db.get(_META)
            if version is None:
                db.put(_META, FORMAT_VERSION)
            elif version != FORMAT_VERSION:
                raise CacheError(
                    f"embedding cache at {self._path} has format {version!r}, "
                    f"expected {FORMAT_VERSION!r}: delete the directory to rebuild it"
                )
            marks: list[tuple[int, bytes]] = []
            for k, v in db.items(from_key=_ACC):
                if not (isinstance(k, bytes) and isinstance(v, bytes)) or not k.startswith(_ACC):
                    break
                marks.append((int(_TICK.unpack(v)[0]), k[len(_ACC) :]))
        except CacheError:
            self.close()
            raise
        except Exception as exc:
            self.close()
            raise CacheError(f"cannot read the embedding cache at {self._path}: {exc}") from exc
        marks.sort()
        self._order = OrderedDict((key, None) for _, key in marks)
        self._tick = marks[-1][0] + 1 if marks else 0
        if len(self._order) > self._max_items:  # the bound was lowered since the last run
            batch = WriteBatch(raw_mode=True)
            self._evict(batch)
            self._write(db, batch)

    def _next_tick(self) -> bytes:
        tick = self._tick
        self._tick += 1
        return _TICK.pack(tick)

    def _evict(self, batch: WriteBatch) -> int:
        evicted = 0
        while len(self._order) > self._max_items:
            key, _ = self._order.popitem(last=False)
            batch.delete(_VEC + key)
            batch.delete(_ACC + key)
            evicted += 1
        return evicted

    def _write(self, db: Rdict, batch: WriteBatch) -> None:
        try:
            db.write(batch)
        except Exception as exc:
            raise CacheError(f"cannot write the embedding cache at {self._path}: {exc}") from exc

    def get_many(self, keys: Sequence[bytes]) -> list[Row | None]:
        """Stored rows or ``None``, in order; hits become most recently used (persisted)."""
        if not keys:
            return []
        with self._lock:
            db = self._open_db()
            try:
                raw: list[bytes | None] = db.get([_VEC + k for k in keys]) or []
            except Exception as exc:
                raise CacheError(f"cannot read the embedding cache at {self._path}: {exc}") from exc
            out: list[Row | None] = []
            batch = WriteBatch(raw_mode=True)
            for key, value in zip(keys, raw, strict=True):
                if value is None or key not in self._order:
                    out.append(None)
                    continue
                out.append(np.frombuffer(value, dtype="<f4").astype(np.float32))
                self._order.move_to_end(key)
                batch.put(_ACC + key, self._next_tick())
            if not batch.is_empty():
                self._write(db, batch)
            return out

    def put_many(self, keys: Sequence[bytes], vectors: Vectors) -> int:
        """Store rows atomically with their ticks and the evictions they cause."""
        if len(keys) != len(vectors):
            raise CacheError(f"{len(keys)} keys for {len(vectors)} vectors")
        with self._lock:
            db = self._open_db()
            batch = WriteBatch(raw_mode=True)
            rows = np.ascontiguousarray(vectors, dtype="<f4")
            for key, row in zip(keys, rows, strict=True):
                batch.put(_VEC + key, row.tobytes())
                batch.put(_ACC + key, self._next_tick())
                self._order[key] = None
                self._order.move_to_end(key)
            evicted = self._evict(batch)
            self._write(db, batch)
            return evicted

    def close(self) -> None:
        """Flush and close the database (idempotent)."""
        with self._lock:
            db, self._db = self._db, None
            if db is not None:
                db.close()
