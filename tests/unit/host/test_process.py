"""ProcessEngine: the engine in a spawned child, served in order over a pipe."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import Iterator
from typing import NoReturn

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from streams.host.calls import BatchOut, SignalsOut
from streams.host.client import EngineClient, ThreadEngine
from streams.host.process import (
    ENGINE_GC_PAUSES,
    EngineCallError,
    EngineStartError,
    ProcessEngine,
)
from tests.unit.core.helpers import msg
from tests.unit.host.engines import ITEMS, broken_calls, small_calls
from tests.unit.host.test_calls import T0, clicks


class LostError(Exception):
    pass


def _lost(why: str) -> NoReturn:
    raise LostError(why)


def _spawn(**kw: object) -> ProcessEngine:
    engine = ProcessEngine(small_calls, on_lost=_lost, metrics_every_s=0.0, **kw)  # type: ignore[arg-type]
    engine.wait_ready(120)
    return engine


@pytest.fixture(scope="module")
def child() -> Iterator[ProcessEngine]:
    engine = _spawn()
    yield engine
    engine.close()


def _batches(engine: EngineClient) -> list[BatchOut]:
    async def run() -> list[BatchOut]:
        first = await engine.process(clicks("u", ["run1", "sock", "run2"]), {}, T0)
        stored = {u: v for u, v in first.changes.items() if v is not None}
        second = await engine.process(clicks("u", ["pan"], first_offset=3), stored, T0)
        return [first, second]

    return asyncio.run(run())


def test_the_child_gives_what_the_thread_gives(child: ProcessEngine) -> None:
    in_thread = ThreadEngine(small_calls(CollectorRegistry()))
    try:
        expected = _batches(in_thread)
    finally:
        in_thread.close()
    assert _batches(child) == expected
    assert expected[1].applied == 1
    assert expected[0].recommendations
    assert expected[0].changes


def test_encoder_metrics_cross_the_boundary(child: ProcessEngine) -> None:
    registry = CollectorRegistry()
    registry.register(child.metrics)
    before = generate_latest(registry).decode()
    assert "interest_tracker_encoder_cache_misses_total 6.0" in before  # the catalog
    text = {"item_id": "new", "title": "brand new thing", "category": "home/kitchen"}
    event = {
        "event_id": "n1",
        "user_id": "w",
        "item_id": "new",
        "type": "click",
        "ts": T0,
        "item": text,
    }
    asyncio.run(child.process([msg(event, 0, 1)], {}, T0))
    after = generate_latest(registry).decode()
    assert "interest_tracker_encoder_cache_misses_total 7.0" in after


def test_a_failing_call_raises_and_the_engine_serves_on(child: ProcessEngine) -> None:
    with pytest.raises(EngineCallError, match="StateCodecError"):
        asyncio.run(child.recommend({"u": b"not a state"}, ["u"]))
    assert asyncio.run(child.apply_signals([])) == SignalsOut()
    assert child.alive()


def test_ctrl_c_is_the_workers_not_the_engines(child: ProcessEngine) -> None:
    assert child.pid is not None
    os.kill(child.pid, signal.SIGINT)
    asyncio.run(child.prepare())
    assert child.alive()
    assert child.catalog_items >= len(ITEMS)  # other tests may have added inline items


def test_a_dead_engine_is_reported_and_close_reaps() -> None:
    engine = _spawn()
    assert engine.pid is not None
    os.kill(engine.pid, signal.SIGKILL)
    with pytest.raises(LostError, match=r"engine process is gone.*exit code -9"):
        asyncio.run(engine.prepare())
    engine.close()
    assert not engine.alive()


def test_close_stops_a_live_engine() -> None:
    engine = _spawn()
    engine.close(timeout=30)
    assert not engine.alive()


def test_a_failing_build_is_a_start_error() -> None:
    engine = ProcessEngine(broken_calls, on_lost=_lost)
    with pytest.raises(EngineStartError, match="no model at /nowhere"):
        engine.wait_ready(120)
    assert not engine.alive()


def _full_pauses(engine: ProcessEngine) -> float:
    registry = CollectorRegistry()
    registry.register(engine.metrics)
    value = registry.get_sample_value(f"{ENGINE_GC_PAUSES}_count", {"generation": "2"})
    return value or 0.0


def test_after_prepare_the_engine_collects_while_idle_on_its_schedule() -> None:
    engine = _spawn(gc_full_every_s=0.2)
    try:
        asyncio.run(engine.apply_signals([]))
        started = _full_pauses(engine)
        assert started >= 1  # the collection before the start-up freeze
        asyncio.run(engine.apply_signals([]))
        assert _full_pauses(engine) == started  # not taken over before prepare: none due
        asyncio.run(engine.prepare())
        settled = _full_pauses(engine)
        assert settled == started + 1  # prepare's settle: one full collection
        time.sleep(1.0)  # idle: due every 0.2 s
        asyncio.run(engine.apply_signals([]))
        assert settled + 2 <= _full_pauses(engine) <= settled + 6
    finally:
        engine.close()


def test_an_idle_worker_asks_for_the_metric_values_calls_did_not_bring() -> None:
    """Values come with call replies at most every ``metrics_every_s``; what the engine did
    last (or alone, while idle) reaches the worker when it asks (``refresh_metrics``)."""
    engine = ProcessEngine(small_calls, on_lost=_lost, metrics_every_s=3600.0)
    engine.wait_ready(120)
    registry = CollectorRegistry()
    registry.register(engine.metrics)
    misses = "interest_tracker_encoder_cache_misses_total"
    try:
        assert registry.get_sample_value(misses) == 6.0  # the catalog, sent with "ready"
        text = {"item_id": "new", "title": "brand new thing", "category": "home/kitchen"}
        event = {"event_id": "n1", "user_id": "w", "item_id": "new", "type": "click", "ts": T0}
        asyncio.run(engine.process([msg({**event, "item": text}, 0, 1)], {}, T0))
        assert registry.get_sample_value(misses) == 6.0  # not sent along: too soon
        asyncio.run(engine.refresh_metrics(3600.0))
        assert registry.get_sample_value(misses) == 6.0  # fresh enough: not asked
        asyncio.run(engine.refresh_metrics(0.0))
        assert registry.get_sample_value(misses) == 7.0
    finally:
        engine.close()
