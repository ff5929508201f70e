"""WorkerRuntime: the idle refresh only when nothing is queued or in flight; publications
retried on transient failures only; the signals topic read to its end before a new group
generation's batches; a worker holding events without progress is stalled."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any, NoReturn, cast

import pytest
from prometheus_client import CollectorRegistry

from streams.clock import SystemClock
from streams.faust_app import runtime
from streams.faust_app.runtime import WorkerRuntime
from streams.host.client import ThreadEngine
from streams.kafka.output import OutputError, OutRecord, Written
from streams.metrics import WorkerMetrics
from streams.settings import Settings
from tests.unit.host.engines import small_calls

_real_sleep = asyncio.sleep


async def _no_wait(seconds: float) -> None:
    await _real_sleep(0)


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
        busy_before = rt.busy
        rt._queued.append(object())  # a batch waiting for the engine
        assert rt.busy  # (no scheduled full garbage collection either)
        assert busy_before is False
        asyncio.run(rt.refresh())
        assert rt.dirty == {"u"}  # still pending: the next idle moment refreshes it
        assert not rt._refreshing
    finally:
        engine.close()


def test_batches_of_a_new_group_generation_wait_for_the_signals_topic() -> None:
    """After a rebalance (and at the start) the signals topic is read to its end before the
    next batch goes to the engine: the deltas a partition's previous owner published before
    it died must be known before its events come again."""
    rt, engine = _runtime()
    try:
        generation = [1]
        synced_with_queued: list[int] = []

        async def sync() -> None:
            synced_with_queued.append(len(rt._queued))

        rt.generation = lambda: generation[0]
        rt.sync_signals = sync
        rt._engine_busy = True  # the batches stay queued (no engine call, no table)
        event = SimpleNamespace(message=SimpleNamespace(incref=lambda: None))

        async def run() -> None:
            await rt.process_batch([event])
            await rt.process_batch([event])
            generation[0] = 2
            await rt.process_batch([event])

        asyncio.run(run())
        assert synced_with_queued == [0, 2]  # before the first batch and the new generation's
        assert len(rt._queued) == 3
    finally:
        engine.close()


def test_a_worker_is_stalled_while_it_holds_events_and_completes_no_batch() -> None:
    """``stalled_for`` (the health endpoint's ``stalled``): zero without events in hand; with
    some, the time since they came to a worker that had none (not since a batch an hour
    ago), or since the last batch completed."""
    rt, engine = _runtime()
    try:
        assert rt.stalled_for(1e9) == 0.0
        rt._engine_busy = True  # the engine computes: the batches stay queued
        rt.last_batch_at -= 3600  # idle for an hour
        event = SimpleNamespace(message=SimpleNamespace(incref=lambda: None))
        asyncio.run(rt.process_batch([event]))
        came = rt._work_since
        assert rt.stalled_for(came + 5) == 5.0
        asyncio.run(rt.process_batch([event]))  # more work while stalled: still stalled
        assert rt._work_since == came
        rt.last_batch_at = came + 3  # a batch completes
        assert rt.stalled_for(came + 5) == 2.0
        rt._queued.clear()
        rt._engine_busy = False
        assert rt.stalled_for(came + 5) == 0.0
    finally:
        engine.close()


class _DiedError(Exception):
    pass


def test_a_signals_topic_that_cannot_be_read_stops_the_worker_before_any_ack(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The batch's references are taken before the wait, so faust's ack of the collected
    batch is never the last one: when reading the signals topic keeps failing, the worker
    exits without committing (after retries), and the batch is fetched again."""
    rt, engine = _runtime()
    try:
        rt.settings = Settings(max_batch_attempts=2)
        refs = [0]
        tries = [0]

        async def broken_sync() -> None:
            tries[0] += 1
            raise TimeoutError("no answer from the broker")

        def died(why: str) -> NoReturn:
            raise _DiedError(why)

        monkeypatch.setattr(runtime, "die", died)
        rt.generation = lambda: 1
        rt.sync_signals = broken_sync

        def incref() -> None:
            refs[0] += 1

        event = SimpleNamespace(message=SimpleNamespace(incref=incref))
        with pytest.raises(_DiedError, match="signals topic"):
            asyncio.run(rt.process_batch([event, event]))
        assert (tries[0], refs[0]) == (2, 2)
        assert rt._queued == []
    finally:
        engine.close()


class _FlakyOutput:
    """Fails its first ``failures`` publications with ``error``."""

    def __init__(self, failures: int, error: Exception) -> None:
        self.failures, self.error, self.calls = failures, error, 0

    def send_all(self, records: list[OutRecord]) -> Written:
        self.calls += 1
        if self.calls <= self.failures:
            raise self.error
        return {(r.topic, 0): 7 for r in records}


def test_a_publication_that_fails_for_a_transient_reason_is_retried(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(asyncio, "sleep", _no_wait)
    rt, engine = _runtime()
    try:
        rt.settings = Settings(max_batch_attempts=3)
        rt.output = cast(Any, _FlakyOutput(2, OutputError("2 records not acknowledged")))
        written = asyncio.run(rt._send([OutRecord("t", None, b"x")]))
        assert written == {("t", 0): 7}
        assert rt.output.calls == 3  # type: ignore[attr-defined]
        assert rt.metrics.batch_retries._value.get() == 2
    finally:
        engine.close()


def test_a_publication_that_keeps_failing_stops_the_worker_and_a_bug_is_not_retried(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def died(why: str) -> NoReturn:
        raise _DiedError(why)

    monkeypatch.setattr(runtime, "die", died)
    monkeypatch.setattr(asyncio, "sleep", _no_wait)
    rt, engine = _runtime()
    try:
        rt.settings = Settings(max_batch_attempts=3)
        rt.output = cast(Any, _FlakyOutput(5, OutputError("not acknowledged")))
        with pytest.raises(_DiedError, match="publishing a batch failed 3 times"):
            asyncio.run(rt._send([OutRecord("t", None, b"x")]))
        rt.output = cast(Any, _FlakyOutput(1, TypeError("a bug")))
        with pytest.raises(TypeError):
            asyncio.run(rt._send([OutRecord("t", None, b"x")]))
        assert rt.output.calls == 1  # type: ignore[attr-defined]
    finally:
        engine.close()


def test_events_are_counted_by_a_configured_type_or_as_other() -> None:
    """A producer's made-up types must not grow the metric's label set without bound."""
    rt, engine = _runtime()
    try:

        def ev(kind: str) -> Any:
            key = b"u1"
            part = runtime._partition_of(key, rt.partitions)
            value = b'{"user_id":"u1","type":"%s"}' % kind.encode()
            return SimpleNamespace(
                value=value, key=key, message=SimpleNamespace(partition=part, topic="events")
            )

        kept, moves, types = rt._route([ev("click"), ev("view"), ev("x1"), ev("x2"), ev("click")])
        assert (len(kept), moves) == (5, [])
        assert types == {"click": 2, "view": 1, "other": 2}
        # without a readable user id too: every event received is counted in (the reject
        # rate divides the rejections, these included, by this count)
        nobody = [
            SimpleNamespace(value=v, key=None, message=SimpleNamespace(partition=0, topic="events"))
            for v in (b"{not json", b'{"type": "click"}', b"[1]", b'{"user_id": "", "type": "x"}')
        ]
        kept, moves, types = rt._route(nobody)
        assert (len(kept), moves) == (4, [])
        assert types == {"click": 1, "other": 3}
        # the configured types and other exist from the start, at 0
        counted = {
            s.labels["type"]: s.value
            for m in rt.metrics.events.collect()
            for s in m.samples
            if s.name.endswith("_total")
        }
        assert counted == dict.fromkeys(sorted({*rt.event_types, "other"}), 0.0)
    finally:
        engine.close()


@pytest.mark.parametrize(
    "value",
    [
        b'{"user_id": "u\\ud800", "type": "click"}',  # escaped
        b'{"user_id": "u\xed\xa0\x80", "type": "click"}',  # encoded
    ],
)
def test_a_user_id_that_is_not_text_gets_no_routing_key(value: bytes) -> None:
    """It cannot be encoded as a key: the event goes to the engine, which rejects it."""
    assert runtime._user_and_type(value) == (None, "invalid")
