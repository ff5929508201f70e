"""Encoder metrics: a closed set of prefixed names, on the injected registry only."""

from __future__ import annotations

import pytest
from prometheus_client import REGISTRY, CollectorRegistry

import encoders.metrics
from encoders.metrics import METRIC_NAMES, PREFIX, EncoderMetrics


def _families(registry: CollectorRegistry) -> set[str]:
    return {sample.name for family in registry.collect() for sample in family.samples}


def test_exposed_names_are_the_documented_closed_set() -> None:
    registry = CollectorRegistry()
    metrics = EncoderMetrics(registry)
    metrics.observe_batch(texts=3, padded_tokens=30, seconds=0.01)
    for counter in (
        metrics.cache_hits,
        metrics.cache_misses,
        metrics.cache_evictions,
        metrics.oom_retries,
        metrics.device_fallbacks,
    ):
        counter.inc()
    assert all(n.startswith(PREFIX) for n in _families(registry))
    exposed = {f.name + "_total" if f.type == "counter" else f.name for f in registry.collect()}
    assert exposed == METRIC_NAMES
    for name in METRIC_NAMES:
        assert name in (encoders.metrics.__doc__ or "")
    assert registry.get_sample_value(PREFIX + "texts_total") == 3


def test_nothing_is_registered_at_import() -> None:
    import encoders.factory  # imports every encoders module

    assert encoders.factory.build_encoder is not None
    assert not any(name.startswith(PREFIX) for name in _families(REGISTRY))


def test_registering_twice_on_one_registry_fails() -> None:
    registry = CollectorRegistry()
    EncoderMetrics(registry)
    with pytest.raises(ValueError, match="Duplicated"):
        EncoderMetrics(registry)
