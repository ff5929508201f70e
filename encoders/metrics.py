"""Encoder metrics: a closed, documented set of names on an injected registry.

Nothing is created at import time: ``EncoderMetrics(registry)`` registers the collectors below
on the registry it is given (registering twice on one registry raises ``ValueError``, as
prometheus_client does). Every encoder, cache and bridge takes ``metrics: EncoderMetrics |
None``; ``None`` records nothing.

Exposed names (counters get ``_total`` appended by prometheus_client on exposition):

========================================================  =========  ==============================
name                                                      type       meaning
========================================================  =========  ==============================
``interest_tracker_encoder_batch_size``                   histogram  texts per forward pass
``interest_tracker_encoder_batch_tokens``                 histogram  padded tokens per forward pass
``interest_tracker_encoder_batch_latency_seconds``        histogram  wall time of one forward pass
                                                                     (pad, forward, pool); on CUDA,
                                                                     where passes are queued
                                                                     without waiting, a span's wall
                                                                     time shared equally
``interest_tracker_encoder_texts_total``                  counter    texts run through the model
                                                                     (after dedupe and cache);
                                                                     ``rate()`` of it is texts/s
``interest_tracker_encoder_cache_hits_total``             counter    texts served from the cache
``interest_tracker_encoder_cache_misses_total``           counter    texts the cache did not have
``interest_tracker_encoder_cache_evictions_total``        counter    vectors evicted (size bound)
``interest_tracker_encoder_oom_retries_total``            counter    out-of-memory → batch halved
``interest_tracker_encoder_device_fallbacks_total``       counter    GPU unusable → moved to CPU
========================================================  =========  ==============================
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram

__all__ = ["METRIC_NAMES", "PREFIX", "EncoderMetrics"]

PREFIX = "interest_tracker_encoder_"

METRIC_NAMES: frozenset[str] = frozenset(
    PREFIX + n
    for n in (
        "batch_size",
        "batch_tokens",
        "batch_latency_seconds",
        "texts_total",
        "cache_hits_total",
        "cache_misses_total",
        "cache_evictions_total",
        "oom_retries_total",
        "device_fallbacks_total",
    )
)
"""The closed set of exposed sample-family names (counters with their ``_total``)."""

_SIZE_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192)
_TOKEN_BUCKETS = tuple(float(2**k) for k in range(4, 21))
_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class EncoderMetrics:
    """The encoder's collectors, registered on ``registry`` at construction."""

    __slots__ = (
        "batch_latency",
        "batch_size",
        "batch_tokens",
        "cache_evictions",
        "cache_hits",
        "cache_misses",
        "device_fallbacks",
        "oom_retries",
        "texts",
    )

    def __init__(self, registry: CollectorRegistry) -> None:
        self.batch_size = Histogram(
            PREFIX + "batch_size",
            "Texts per forward pass.",
            buckets=_SIZE_BUCKETS,
            registry=registry,
        )
        self.batch_tokens = Histogram(
            PREFIX + "batch_tokens",
            "Padded tokens (texts x longest) per forward pass.",
            buckets=_TOKEN_BUCKETS,
            registry=registry,
        )
        self.batch_latency = Histogram(
            PREFIX + "batch_latency_seconds",
            "Wall time of one forward pass: pad, forward, pool, copy to host.",
            buckets=_LATENCY_BUCKETS,
            registry=registry,
        )
        self.texts = Counter(
            PREFIX + "texts", "Texts run through the model (after dedupe).", registry=registry
        )
        self.cache_hits = Counter(
            PREFIX + "cache_hits", "Texts served from the embedding cache.", registry=registry
        )
        self.cache_misses = Counter(
            PREFIX + "cache_misses", "Texts not found in the embedding cache.", registry=registry
        )
        self.cache_evictions = Counter(
            PREFIX + "cache_evictions",
            "Vectors evicted by the cache size bound.",
            registry=registry,
        )
        self.oom_retries = Counter(
            PREFIX + "oom_retries",
            "Out-of-memory errors answered by halving the batch.",
            registry=registry,
        )
        self.device_fallbacks = Counter(
            PREFIX + "device_fallbacks",
            "Times the GPU became unusable and encoding moved to CPU.",
            registry=registry,
        )

    def observe_batch(self, texts: int, padded_tokens: int, seconds: float) -> None:
        """Record one forward pass."""
        self.batch_size.observe(texts)
        self.batch_tokens.observe(padded_tokens)
        self.batch_latency.observe(seconds)
        self.texts.inc(texts)
