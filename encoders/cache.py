"""Embedding cache: each vector computed once per (model id, text content).

* ``cache_key(model_id, text)`` — 24 bytes: an 8-byte hash of the model id (so one model's
  entries share a prefix) and a 16-byte BLAKE2b of the text's UTF-8 bytes.
* ``EmbeddingCache`` — the port: ``get_many`` / ``put_many`` of float32 rows by key, bounded
  to ``max_items`` (least recently used evicted first), thread-safe.
  ``MemoryEmbeddingCache`` keeps them in RAM; ``encoders.disk_cache.DiskEmbeddingCache``
  persists them across restarts. Both run the same contract tests.
* ``CachedEncoder(encoder, cache)`` — a ``TextEncoder`` that asks the cache first and encodes
  only the misses, so every caller gets caching transparently.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections import OrderedDict
from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from encoders.batching import dedupe, restore_order
from encoders.errors import CacheError, EncodeError, EncoderConfigError
from encoders.metrics import EncoderMetrics
from encoders.protocol import TextEncoder, Vectors

__all__ = ["CachedEncoder", "EmbeddingCache", "MemoryEmbeddingCache", "cache_key"]

logger = logging.getLogger(__name__)

Row = npt.NDArray[np.float32]


def cache_key(model_id: str, text: str) -> bytes:
    """The cache key of ``text`` under ``model_id`` (24 bytes, stable across processes).

    >>> len(cache_key("m", "hello")), cache_key("m", "a")[:8] == cache_key("m", "b")[:8]
    (24, True)
    """
    model = hashlib.blake2b(model_id.encode("utf-8"), digest_size=8).digest()
    content = hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).digest()
    return model + content


@runtime_checkable
class EmbeddingCache(Protocol):
    """Vectors by ``cache_key``; bounded, thread-safe. Errors: ``CacheError``."""

    @property
    def max_items(self) -> int:
        """The size bound: after any ``put_many`` at most this many vectors are kept."""
        ...

    def __len__(self) -> int:
        """Vectors held now."""
        ...

    def get_many(self, keys: Sequence[bytes]) -> list[Row | None]:
        """One entry per key, in order: the stored float32 row, or ``None`` on a miss.

        A hit makes its entry the most recently used.
        """
        ...

    def put_many(self, keys: Sequence[bytes], vectors: Vectors) -> int:
        """Store ``vectors[i]`` under ``keys[i]``; evict least recently used beyond the bound.

        Returns how many entries were evicted.
        """
        ...

    def close(self) -> None:
        """Release resources (idempotent); the cache is unusable afterwards."""
        ...


class MemoryEmbeddingCache:
    """An in-process LRU ``EmbeddingCache`` (lost on restart)."""

    def __init__(self, max_items: int) -> None:
        if max_items < 1:
            raise EncoderConfigError(f"cache max_items must be >= 1, got {max_items}")
        self._max_items = max_items
        self._rows: OrderedDict[bytes, Row] = OrderedDict()
        self._lock = threading.Lock()

    @property
    def max_items(self) -> int:
        """The size bound."""
        return self._max_items

    def __len__(self) -> int:
        return len(self._rows)

    def get_many(self, keys: Sequence[bytes]) -> list[Row | None]:
        """Stored rows or ``None``, in order; hits become most recently used."""
        with self._lock:
            out: list[Row | None] = []
            for key in keys:
                row = self._rows.get(key)
                if row is not None:
                    self._rows.move_to_end(key)
                out.append(row)
            return out

    def put_many(self, keys: Sequence[bytes], vectors: Vectors) -> int:
        """Store rows (copied), evicting the least recently used beyond ``max_items``."""
        with self._lock:
            for key, row in zip(keys, vectors, strict=True):
                self._rows[key] = np.array(row, dtype=np.float32)
                self._rows.move_to_end(key)
            evicted = 0
            while len(self._rows) > self._max_items:
                self._rows.popitem(last=False)
                evicted += 1
            return evicted

    def close(self) -> None:
        """Drop every vector."""
        with self._lock:
            self._rows.clear()


class CachedEncoder:
    """A ``TextEncoder`` that serves vectors from ``cache`` and encodes only the misses.

    Same contract as the wrapped encoder (shape, order, unit rows, ``model_id``, ``dim``).
    Hits and misses are counted per distinct text of a call. A cached row of the wrong
    dimension is treated as a miss and overwritten. A cache that fails (``CacheError``) is
    logged and bypassed for that call: encoding goes on without it.
    """

    def __init__(
        self,
        encoder: TextEncoder,
        cache: EmbeddingCache,
        *,
        metrics: EncoderMetrics | None = None,
    ) -> None:
        self._encoder = encoder
        self._cache = cache
        self._metrics = metrics

    @property
    def dim(self) -> int:
        """The wrapped encoder's dimension."""
        return self._encoder.dim

    @property
    def model_id(self) -> str:
        """The wrapped encoder's model id (also the cache namespace)."""
        return self._encoder.model_id

    @property
    def inner(self) -> TextEncoder:
        """The wrapped encoder."""
        return self._encoder

    def encode(self, texts: Sequence[str]) -> Vectors:
        """Vectors for ``texts`` in order; see the class docstring."""
        dim = self._encoder.dim
        unique, inverse = dedupe(texts)
        keys = [cache_key(self._encoder.model_id, t) for t in unique]
        try:
            cached = self._cache.get_many(keys)
        except CacheError:
            logger.warning("embedding cache read failed; encoding without it", exc_info=True)
            cached = [None] * len(keys)
        out = np.empty((len(unique), dim), dtype=np.float32)
        missing: list[int] = []
        for i, row in enumerate(cached):
            if row is not None and row.shape == (dim,):
                out[i] = row
            else:
                missing.append(i)
        if self._metrics is not None:
            self._metrics.cache_hits.inc(len(unique) - len(missing))
            self._metrics.cache_misses.inc(len(missing))
        if missing:
            fresh = self._encoder.encode([unique[i] for i in missing])
            if fresh.shape != (len(missing), dim):
                raise EncodeError(
                    f"encoder {self._encoder.model_id!r} returned shape {fresh.shape}, "
                    f"expected {(len(missing), dim)}"
                )
            out[missing] = fresh
            self._store([keys[i] for i in missing], fresh)
        return restore_order(out, inverse)

    def _store(self, keys: list[bytes], vectors: Vectors) -> None:
        try:
            evicted = self._cache.put_many(keys, vectors)
        except CacheError:
            logger.warning("embedding cache write failed; vectors not cached", exc_info=True)
            return
        if self._metrics is not None and evicted:
            self._metrics.cache_evictions.inc(evicted)

    def close(self) -> None:
        """Close the cache. The wrapped encoder is its owner's to close (it may be shared)."""
        self._cache.close()
