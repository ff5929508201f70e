"""The decoded-state cache's counters as metrics (read from the store at each collection).

:class:`~state.store.CodecUserStore` counts its cache hits and misses as plain integers (the
core stays free of prometheus); :class:`StateCacheMetrics` reports them on the engine's
registry, which the engine process forwards to the worker's ``/metrics``. A miss is a state
decoded from its stored bytes; a hit, one reused because the bytes are still those of the
cached state; users without a stored state are neither. Operators size
``IT_STATE_CACHE_MB`` by the hit ratio; ``..._bytes`` is the memory the cache holds (estimated
per state, :func:`state.store.cached_bytes`).
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from state.store import CodecUserStore

__all__ = ["StateCacheMetrics"]

PREFIX = "interest_tracker_state_cache"


class StateCacheMetrics(Collector):
    """``interest_tracker_state_cache_{hits,misses}_total``, ``..._states`` and ``..._bytes``
    of ``store``."""

    def __init__(self, store: CodecUserStore, registry: CollectorRegistry) -> None:
        self.store = store
        registry.register(self)

    def collect(self) -> Iterator[Metric]:
        """The store's counters now."""
        yield CounterMetricFamily(
            f"{PREFIX}_hits",
            "stored user states served from the decoded-state cache",
            value=self.store.hits,
        )
        yield CounterMetricFamily(
            f"{PREFIX}_misses",
            "stored user states decoded from their bytes (not cached, or changed since)",
            value=self.store.misses,
        )
        yield GaugeMetricFamily(
            f"{PREFIX}_states",
            "decoded user states the cache holds",
            value=self.store.cached,
        )
        yield GaugeMetricFamily(
            f"{PREFIX}_bytes",
            "estimated memory of the decoded user states the cache holds",
            value=self.store.cached_bytes,
        )
