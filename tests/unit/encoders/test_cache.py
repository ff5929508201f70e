"""``CachedEncoder`` and the persistent cache: computed once, survives restart, bounded."""

from __future__ import annotations

import doctest
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
from prometheus_client import CollectorRegistry

import encoders.cache
from encoders.cache import CachedEncoder, MemoryEmbeddingCache, Row, cache_key
from encoders.disk_cache import DiskEmbeddingCache
from encoders.errors import CacheError, EncodeError, EncoderConfigError
from encoders.metrics import EncoderMetrics
from encoders.protocol import Vectors
from tests.contract.encoder_doubles import HashingEncoder


def _count(registry: CollectorRegistry, name: str) -> float:
    return registry.get_sample_value(f"interest_tracker_encoder_{name}_total") or 0.0


def test_doctests() -> None:
    assert doctest.testmod(encoders.cache).failed == 0


def test_each_text_is_encoded_once_and_hits_are_counted() -> None:
    registry = CollectorRegistry()
    twin = HashingEncoder()
    encoder = CachedEncoder(twin, MemoryEmbeddingCache(100), metrics=EncoderMetrics(registry))
    first = encoder.encode(["a", "b", "a"])
    second = encoder.encode(["b", "c"])
    assert twin.calls == [["a", "b"], ["c"]]
    np.testing.assert_array_equal(first[1], second[0])
    assert _count(registry, "cache_hits") == 1
    assert _count(registry, "cache_misses") == 3
    assert encoder.model_id == twin.model_id
    assert encoder.inner is twin


def test_evictions_are_counted() -> None:
    registry = CollectorRegistry()
    encoder = CachedEncoder(
        HashingEncoder(), MemoryEmbeddingCache(2), metrics=EncoderMetrics(registry)
    )
    encoder.encode(["a", "b", "c", "d"])
    assert _count(registry, "cache_evictions") == 2


def test_vectors_survive_a_restart(tmp_path: Path) -> None:
    twin = HashingEncoder()
    cached = CachedEncoder(twin, DiskEmbeddingCache(tmp_path, 100))
    before = cached.encode(["shoes", "socks"])
    cached.close()
    twin_after_restart = HashingEncoder()
    reopened = CachedEncoder(twin_after_restart, DiskEmbeddingCache(tmp_path, 100))
    np.testing.assert_array_equal(reopened.encode(["socks", "shoes"]), before[::-1])
    assert twin_after_restart.calls == []
    reopened.close()


def test_lru_order_survives_a_restart_and_a_lower_bound_evicts(tmp_path: Path) -> None:
    keys = [cache_key("m", t) for t in "abcd"]
    rows = np.eye(4, dtype=np.float32)
    cache = DiskEmbeddingCache(tmp_path, 4)
    cache.put_many(keys, rows)
    cache.get_many([keys[0]])  # a is fresh again: b is the oldest now
    cache.close()
    smaller = DiskEmbeddingCache(tmp_path, 2)
    assert len(smaller) == 2
    got = smaller.get_many(keys)
    assert [g is not None for g in got] == [True, False, False, True]
    smaller.close()


def test_one_process_per_directory(tmp_path: Path) -> None:
    cache = DiskEmbeddingCache(tmp_path, 10)
    with pytest.raises(CacheError, match="cannot open"):
        DiskEmbeddingCache(tmp_path, 10)
    cache.close()
    cache.close()  # idempotent
    with pytest.raises(CacheError, match="closed"):
        cache.get_many([b"k"])


def test_unknown_format_is_refused(tmp_path: Path) -> None:
    from rocksdict import Options, Rdict

    db = Rdict(str(tmp_path), Options(raw_mode=True))
    db.put(b"m:format", b"99")
    db.close()
    with pytest.raises(CacheError, match="format"):
        DiskEmbeddingCache(tmp_path, 10)


def test_wrong_dimension_rows_are_misses() -> None:
    cache = MemoryEmbeddingCache(10)
    twin = HashingEncoder(dim=8)
    cache.put_many([cache_key(twin.model_id, "a")], np.ones((1, 3), dtype=np.float32))
    out = CachedEncoder(twin, cache).encode(["a"])
    assert out.shape == (1, 8)
    assert twin.calls == [["a"]]


class BrokenCache(MemoryEmbeddingCache):
    def get_many(self, keys: Sequence[bytes]) -> list[Row | None]:
        raise CacheError("disk on fire")

    def put_many(self, keys: Sequence[bytes], vectors: Vectors) -> int:
        raise CacheError("disk on fire")


def test_a_failing_cache_is_bypassed(caplog: pytest.LogCaptureFixture) -> None:
    out = CachedEncoder(HashingEncoder(), BrokenCache(10)).encode(["a", "b"])
    np.testing.assert_array_equal(out, HashingEncoder().encode(["a", "b"]))
    assert sum("cache" in r.getMessage() for r in caplog.records) == 2


def test_an_encoder_returning_the_wrong_shape_is_an_error() -> None:
    class Short(HashingEncoder):
        def encode(self, texts: Sequence[str]) -> Vectors:
            return super().encode(texts[:-1])

    with pytest.raises(EncodeError, match="shape"):
        CachedEncoder(Short(), MemoryEmbeddingCache(10)).encode(["a", "b"])


def test_bounds_must_be_positive(tmp_path: Path) -> None:
    with pytest.raises(EncoderConfigError):
        MemoryEmbeddingCache(0)
    with pytest.raises(EncoderConfigError):
        DiskEmbeddingCache(tmp_path, 0)
