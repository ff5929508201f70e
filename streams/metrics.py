"""The worker's metrics: a closed, documented set of names on an injected registry.

Nothing is created at import time: :class:`WorkerMetrics` registers every metric on the
``CollectorRegistry`` it is given, so tests and several workers in one process never clash.
All names start with ``interest_tracker_``; docs/operations.md lists them with their labels.

The series of every known label value exist from the start at 0: Prometheus' ``increase`` and
``rate`` see no growth in a series whose first sample is already 1, so a first checkpoint
failure, or the first rejection of a reason, would never fire an alert.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import get_args

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from streams.core.contract import REASONS
from streams.core.outputs import Severity
from streams.kafka.signal_ledger import MAX_PENDING

__all__ = ["LATENCY_BUCKETS", "STAGES", "WorkerMetrics"]

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
BATCH_BUCKETS = (1, 10, 50, 100, 250, 500, 1000, 2500, 5000, 10000)
STAGES = ("read", "engine", "publish", "state")
REJECTION_REASONS = (*REASONS, "processing_error")  # the last: set by the worker


def _known(metric: Counter | Histogram, values: Iterable[str]) -> None:
    """Create the series of each of ``values`` (one label) at 0."""
    for value in values:
        metric.labels(value)


class WorkerMetrics:
    """Every metric the worker exports. Attribute names mirror the metric names."""

    def __init__(self, registry: CollectorRegistry) -> None:
        p = "interest_tracker_"
        self.events = Counter(
            p + "events", "Events received, by the type they claim.", ["type"], registry=registry
        )
        self.applied = Counter(
            p + "events_applied",
            "Events applied to user state (not rejected, not duplicates).",
            registry=registry,
        )
        self.rejected = Counter(
            p + "events_rejected",
            "Events sent to the dead-letter topic, by reason.",
            ["reason"],
            registry=registry,
        )
        self.items_rejected = Counter(
            p + "items_rejected",
            "Catalog records sent to the dead-letter topic, by reason (counted at every read "
            "of the catalog: a start reads it whole again).",
            ["reason"],
            registry=registry,
        )
        self.duplicates = Counter(
            p + "events_duplicate",
            "Events skipped because they were already applied (redelivery, resends).",
            registry=registry,
        )
        self.batch_size = Histogram(
            p + "batch_size",
            "Events per processed batch.",
            buckets=BATCH_BUCKETS,
            registry=registry,
        )
        self.batch_duration = Histogram(
            p + "batch_duration_seconds",
            "Wall time to process one batch, outputs flushed included.",
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.batch_stage = Histogram(
            p + "batch_stage_seconds",
            "Wall time of each stage of a batch: read (route, stage states), engine, "
            "publish (outputs acknowledged), state (table writes and changelog flushed).",
            ["stage"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.batch_retries = Counter(
            p + "batch_retries", "Batches retried after a transient failure.", registry=registry
        )
        self.publish_latency = Histogram(
            p + "event_to_publish_seconds",
            "Event time of a user's newest event to the publication of their recommendation.",
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.users_tracked = Gauge(
            p + "users_tracked", "Users whose state this worker holds.", registry=registry
        )
        self.items = Gauge(p + "catalog_items", "Items in the catalog.", registry=registry)
        self.recommendations = Counter(
            p + "recommendations_published", "Recommendations published.", registry=registry
        )
        self.alerts = Counter(
            p + "drift_alerts_published",
            "Interest-drift alerts published, by severity.",
            ["severity"],
            registry=registry,
        )
        self.consumer_lag = Gauge(
            p + "consumer_lag",
            "Messages behind the end of each assigned partition.",
            ["topic", "partition"],
            registry=registry,
        )
        self.stalled = Gauge(
            p + "stalled_seconds",
            "Seconds this worker has held events without completing a batch (0: none held).",
            registry=registry,
        )
        self.recovery_remaining = Gauge(
            p + "table_recovery_remaining",
            "Changelog messages left to read before the state tables are recovered.",
            registry=registry,
        )
        self.signal_deltas = Counter(
            p + "signal_deltas_applied",
            "Global-signal delta messages applied (co-visitation, trending).",
            registry=registry,
        )
        self.signal_checkpoints = Counter(
            p + "signal_checkpoints",
            "Checkpoints of the global signals this worker wrote (written) or failed to write.",
            ["outcome"],
            registry=registry,
        )
        self.signal_checkpoint_bytes = Gauge(
            p + "signal_checkpoint_bytes",
            "Size of the last signals checkpoint this worker wrote.",
            registry=registry,
        )
        self.signal_checkpoint_covered = Gauge(
            p + "signal_checkpoint_covered_records",
            "signals records the last checkpoint this worker wrote covers (their positions' sum).",
            registry=registry,
        )
        self.signal_dropped = Counter(
            p + "signal_records_dropped",
            "Signal records not applied: a retried publication's repeats (repeated, per "
            "record) and incomplete batches given up (incomplete, per batch: their writers "
            f"died halfway; the oldest beyond {MAX_PENDING} waiting).",
            ["reason"],
            registry=registry,
        )
        _known(self.rejected, REJECTION_REASONS)
        _known(self.items_rejected, REJECTION_REASONS)
        _known(self.alerts, get_args(Severity))
        _known(self.signal_checkpoints, ("written", "failed"))
        _known(self.signal_dropped, ("repeated", "incomplete"))
        _known(self.batch_stage, STAGES)

    def known_event_types(self, types: Iterable[str]) -> None:
        """Create the ``events_total`` series of the configured types and ``other`` at 0."""
        _known(self.events, (*types, "other"))
