"""WorkerRuntime's idle refresh: only when nothing is queued or in flight."""

from __future__ import annotations

import asyncio
from typing import Any, cast

from prometheus_client import CollectorRegistry

from streams.clock import SystemClock
from streams.faust_app.runtime import WorkerRuntime
from streams.host.client import ThreadEngine
from streams.metrics import WorkerMetrics
from streams.settings import Settings
from tests.unit.host.engines import small_calls


def _runtime() -> tuple[WorkerRuntime, ThreadEngine]:
    engine = ThreadEngine(small_calls(CollectorRegistry()))
    rt = WorkerRuntime(
        settings=Settings(),
        parts=cast(Any, None),  # any table read would fail: the refresh must not get there
        engine=engine,
        metrics=WorkerMetrics(CollectorRegistry()),
        partitions=4,
        clock=SystemClock(),
        output=cast(Any, None),
    )
    return rt, engine


def test_a_new_worker_is_not_idle_since_the_boot() -> None:
    """Idle time counts from the start: before, a worker whose first batch was still
    completing looked idle for the machine's uptime, and a refresh of every published user
    ran (late, under load) with their stored, older times."""
    rt, engine = _runtime()
    try:
        assert rt.idle_for() < 60
    finally:
        engine.close()


def test_a_refresh_with_batches_in_hand_does_nothing() -> None:
    rt, engine = _runtime()
    try:
        rt.dirty.add("u")
        rt._queued.append(object())  # a batch waiting for the engine
        asyncio.run(rt.refresh())
        assert rt.dirty == {"u"}  # still pending: the next idle moment refreshes it
        assert not rt._refreshing
    finally:
        engine.close()
