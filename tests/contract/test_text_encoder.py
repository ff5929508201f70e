"""The ``TextEncoder`` contract, run against every implementation.

Real: the transformers encoder (packaged all-MiniLM-L6-v2, CPU), bare and behind
``CachedEncoder`` with either cache. Twin: ``HashingEncoder``, bare and cached.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

from encoders.batching import AsyncEncoder
from encoders.cache import CachedEncoder, MemoryEmbeddingCache
from encoders.disk_cache import DiskEmbeddingCache
from encoders.protocol import TextEncoder
from encoders.transformer import TransformerEncoder
from tests.contract.encoder_doubles import HashingEncoder

TEXTS = [
    "red running shoes",
    "",
    "a waterproof jacket for hiking in the rain",
    "red running shoes",
    "Ünïcödé — 東京 🎉",
    "   leading and trailing spaces   ",
    "word " * 600,  # longer than any model's max length
]

Factory = Callable[[Path], TextEncoder]


def _factories(real: TransformerEncoder) -> dict[str, Factory]:
    return {
        "transformer": lambda _: real,
        "transformer+memory-cache": lambda _: CachedEncoder(real, MemoryEmbeddingCache(100)),
        "transformer+disk-cache": lambda d: CachedEncoder(real, DiskEmbeddingCache(d, 100)),
        "hashing-twin": lambda _: HashingEncoder(),
        "hashing-twin+memory-cache": lambda _: CachedEncoder(
            HashingEncoder(), MemoryEmbeddingCache(3)
        ),
    }


IMPLEMENTATIONS = [
    "transformer",
    "transformer+memory-cache",
    "transformer+disk-cache",
    "hashing-twin",
    "hashing-twin+memory-cache",
]


@pytest.fixture(params=IMPLEMENTATIONS)
def encoder(
    request: pytest.FixtureRequest, real_encoder: TransformerEncoder, tmp_path: Path
) -> Iterator[TextEncoder]:
    enc = _factories(real_encoder)[request.param](tmp_path / "cache")
    yield enc
    if isinstance(enc, CachedEncoder):
        enc.close()


def _cos(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b)))


def test_is_a_text_encoder(encoder: TextEncoder) -> None:
    assert isinstance(encoder, TextEncoder)
    assert encoder.dim > 0
    assert isinstance(encoder.model_id, str)
    assert encoder.model_id
    assert encoder.model_id == encoder.model_id


def test_shape_dtype_layout(encoder: TextEncoder) -> None:
    out = encoder.encode(TEXTS)
    assert out.shape == (len(TEXTS), encoder.dim)
    assert out.dtype == np.float32
    assert out.flags.c_contiguous
    assert np.isfinite(out).all()


def test_empty_input(encoder: TextEncoder) -> None:
    out = encoder.encode([])
    assert out.shape == (0, encoder.dim)
    assert out.dtype == np.float32


def test_rows_are_unit_vectors_even_for_empty_text(encoder: TextEncoder) -> None:
    out = encoder.encode(TEXTS)
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-5)


def test_callers_order_and_duplicates(encoder: TextEncoder) -> None:
    together = encoder.encode(TEXTS)
    np.testing.assert_array_equal(together[0], together[3])
    for i, text in enumerate(TEXTS):
        alone = encoder.encode([text])[0]
        assert _cos(alone, together[i]) > 0.99999, (i, text[:20])


def test_reversed_input_gives_reversed_rows(encoder: TextEncoder) -> None:
    forward = encoder.encode(TEXTS)
    backward = encoder.encode(TEXTS[::-1])
    np.testing.assert_allclose(forward, backward[::-1], atol=1e-5)


def test_deterministic(encoder: TextEncoder) -> None:
    np.testing.assert_allclose(encoder.encode(TEXTS), encoder.encode(TEXTS), atol=1e-6)


def test_similar_texts_are_closer_than_unrelated(encoder: TextEncoder) -> None:
    a, b, c = encoder.encode(["red running shoes", "running shoes red", "tax return form"])
    assert _cos(a, b) > _cos(a, c)


def test_async_bridge_returns_the_same_vectors(encoder: TextEncoder) -> None:
    async def run() -> list[np.ndarray]:
        async with AsyncEncoder(encoder, max_pending=2) as bridge:
            assert bridge.dim == encoder.dim
            assert bridge.model_id == encoder.model_id
            return list(await asyncio.gather(*(bridge.encode([t]) for t in TEXTS)))

    results = asyncio.run(run())
    direct = encoder.encode(TEXTS)
    for i, row in enumerate(results):
        assert row.shape == (1, encoder.dim)
        assert _cos(row[0], direct[i]) > 0.99999
