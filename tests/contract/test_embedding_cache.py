"""The ``EmbeddingCache`` contract, run against the in-memory and the RocksDB cache."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

from encoders.cache import EmbeddingCache, MemoryEmbeddingCache, cache_key
from encoders.disk_cache import DiskEmbeddingCache

Factory = Callable[[Path, int], EmbeddingCache]

FACTORIES: dict[str, Factory] = {
    "memory": lambda _, n: MemoryEmbeddingCache(n),
    "disk": lambda d, n: DiskEmbeddingCache(d / "cache", n),
}


@pytest.fixture(params=sorted(FACTORIES))
def make(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Factory]:
    opened: list[EmbeddingCache] = []

    def factory(_: Path, n: int) -> EmbeddingCache:
        cache = FACTORIES[request.param](tmp_path, n)
        opened.append(cache)
        return cache

    yield factory
    for cache in opened:
        cache.close()


def _rows(n: int, dim: int = 4, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((n, dim)).astype(np.float32)


def _keys(n: int) -> list[bytes]:
    return [cache_key("m", f"text {i}") for i in range(n)]


def test_round_trip_and_misses(make: Factory, tmp_path: Path) -> None:
    cache = make(tmp_path, 10)
    assert isinstance(cache, EmbeddingCache)
    keys, rows = _keys(3), _rows(3)
    assert cache.get_many(keys) == [None, None, None]
    assert cache.put_many(keys[:2], rows[:2]) == 0
    got = cache.get_many(keys)
    assert got[2] is None
    for i in range(2):
        row = got[i]
        assert row is not None
        assert row.dtype == np.float32
        np.testing.assert_array_equal(row, rows[i])
    assert len(cache) == 2
    assert cache.get_many([]) == []


def test_bound_evicts_least_recently_used(make: Factory, tmp_path: Path) -> None:
    cache = make(tmp_path, 3)
    keys, rows = _keys(5), _rows(5)
    cache.put_many(keys[:3], rows[:3])
    cache.get_many([keys[0]])  # 0 is now the most recently used; 1 is the oldest
    assert cache.put_many(keys[3:4], rows[3:4]) == 1
    got = cache.get_many(keys[:4])
    assert got[1] is None
    assert all(got[i] is not None for i in (0, 2, 3))
    assert cache.put_many(keys[4:5], rows[4:5]) == 1
    assert len(cache) == 3 == cache.max_items


def test_overwrite_keeps_one_entry(make: Factory, tmp_path: Path) -> None:
    cache = make(tmp_path, 3)
    key = _keys(1)
    cache.put_many(key, _rows(1, seed=1))
    cache.put_many(key, _rows(1, seed=2))
    assert len(cache) == 1
    row = cache.get_many(key)[0]
    assert row is not None
    np.testing.assert_array_equal(row, _rows(1, seed=2)[0])


def test_stored_rows_are_copies(make: Factory, tmp_path: Path) -> None:
    cache = make(tmp_path, 3)
    rows = _rows(1)
    cache.put_many(_keys(1), rows)
    rows[0, 0] = 123.0
    row = cache.get_many(_keys(1))[0]
    assert row is not None
    assert row[0] != 123.0


def test_keys_separate_models_and_texts() -> None:
    assert cache_key("m1", "a") != cache_key("m2", "a")
    assert cache_key("m1", "a") != cache_key("m1", "b")
    assert cache_key("m", "\ud800 lone surrogate") == cache_key("m", "\ud800 lone surrogate")


def test_concurrent_use_is_safe(make: Factory, tmp_path: Path) -> None:
    cache = make(tmp_path, 50)
    keys, rows = _keys(200), _rows(200)

    def work(offset: int) -> None:
        for i in range(offset, 200, 4):
            cache.put_many([keys[i]], rows[i : i + 1])
            cache.get_many([keys[i], keys[(i + 7) % 200]])

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(cache) == 50
    assert sum(r is not None for r in cache.get_many(keys)) == 50
