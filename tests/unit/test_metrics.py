"""The worker's metrics: the series of every known label value exist from the start."""

from __future__ import annotations

from prometheus_client import CollectorRegistry

from streams.core.contract import REASONS
from streams.metrics import STAGES, WorkerMetrics


def _series(registry: CollectorRegistry, name: str, label: str) -> dict[str, float]:
    return {
        s.labels[label]: s.value for m in registry.collect() for s in m.samples if s.name == name
    }


def test_known_label_values_start_at_zero() -> None:
    """``increase``/``rate`` see no growth in a series whose first sample is already 1: a
    first checkpoint failure or a first rejection of a reason would never fire an alert."""
    registry = CollectorRegistry()
    WorkerMetrics(registry)
    p = "interest_tracker_"
    failed = _series(registry, p + "signal_checkpoints_total", "outcome")
    assert failed == {"written": 0.0, "failed": 0.0}
    reasons = {*REASONS, "processing_error"}
    assert _series(registry, p + "events_rejected_total", "reason") == dict.fromkeys(reasons, 0.0)
    assert _series(registry, p + "items_rejected_total", "reason") == dict.fromkeys(reasons, 0.0)
    severities = _series(registry, p + "drift_alerts_published_total", "severity")
    assert severities == dict.fromkeys(("low", "medium", "high"), 0.0)
    dropped = _series(registry, p + "signal_records_dropped_total", "reason")
    assert dropped == {"repeated": 0.0, "incomplete": 0.0}
    assert set(_series(registry, p + "batch_stage_seconds_count", "stage")) == set(STAGES)
