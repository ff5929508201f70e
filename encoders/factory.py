"""``build_encoder``: settings in, the product's ``TextEncoder`` out (worker and commands).

The result is ``CachedEncoder(TransformerEncoder, cache)``: a persistent ``DiskEmbeddingCache``
when ``cache_dir`` is set, an in-memory LRU otherwise, or the bare encoder when
``cache_max_items`` is 0. With a ``registry``, ``EncoderMetrics`` are registered on it and
shared by the encoder and the cache wrapper.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry

from encoders.cache import CachedEncoder, EmbeddingCache, MemoryEmbeddingCache
from encoders.disk_cache import DiskEmbeddingCache
from encoders.metrics import EncoderMetrics
from encoders.protocol import TextEncoder
from encoders.settings import EncoderSettings
from encoders.transformer import load_transformer_encoder

__all__ = ["build_cache", "build_encoder"]


def build_cache(settings: EncoderSettings) -> EmbeddingCache | None:
    """The cache the settings ask for (``None`` when caching is off)."""
    if settings.cache_max_items == 0:
        return None
    if settings.cache_dir is None:
        return MemoryEmbeddingCache(settings.cache_max_items)
    return DiskEmbeddingCache(settings.cache_dir, settings.cache_max_items)


def build_encoder(
    settings: EncoderSettings, registry: CollectorRegistry | None = None
) -> TextEncoder:
    """Load the model offline and wrap it with the cache. Errors: ``EncoderError``."""
    metrics = EncoderMetrics(registry) if registry is not None else None
    encoder = load_transformer_encoder(
        settings.model_path,
        device=settings.device,
        dtype=settings.dtype,
        cpu_threads=settings.cpu_threads,
        max_batch_size=settings.max_batch_size,
        token_budget=settings.token_budget,
        fallback_to_cpu=settings.fallback_to_cpu,
        metrics=metrics,
    )
    cache = build_cache(settings)
    if cache is None:
        return encoder
    return CachedEncoder(encoder, cache, metrics=metrics)
