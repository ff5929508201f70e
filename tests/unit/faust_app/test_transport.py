"""The worker's faust App and consumer: the configured fetch wait, size and poll interval,
fetched sets delivered whole, and faust started only after the worker's start-up."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import aiokafka
from faust.types import TP, Message

from streams.faust_app.app import build_faust
from streams.faust_app.transport import Transport, count_a_poll
from streams.settings import Settings


def test_the_worker_consumer_gets_the_configured_fetch_wait_and_size(tmp_path: Path) -> None:
    settings = Settings(
        state_dir=tmp_path, consumer_fetch_max_wait_ms=42, consumer_fetch_min_bytes=4096
    )

    async def build() -> tuple[int, int]:
        app = build_faust(settings, partitions=4).app
        assert isinstance(app.transport, Transport)
        worker_consumer: Any = app.consumer  # faust's aiokafka Consumer, with its thread
        thread = worker_consumer._thread
        consumer = thread._create_worker_consumer(app.transport)
        got = (consumer._fetch_max_wait_ms, consumer._fetch_min_bytes)
        await consumer.stop()  # never started: releases the client it made
        return got

    assert asyncio.run(build()) == (42, 4096)


def _message(offset: int, partition: int = 0) -> Message:
    tp = TP("events", partition)
    return Message("events", partition, offset, 0.0, 0, None, b"u", b"{}", None, tp=tp)


def _deliver(
    tmp_path: Path,
    fetched: list[Message],
    *,
    read: dict[TP, int] | None = None,
    stop_at: int | None = None,
) -> tuple[list[int], dict[TP, int | None]]:
    """Offsets the stream callback got from one fetched set, and the read offsets after."""

    async def run() -> tuple[list[int], dict[TP, int | None]]:
        app = build_faust(Settings(state_dir=tmp_path), partitions=4).app
        consumer: Any = app.consumer
        got: list[int] = []

        async def callback(message: Message) -> None:
            got.append(message.offset)
            if message.offset == stop_at:
                consumer.stop_flow()  # a rebalance starts while this record is delivered

        consumer.callback = callback
        consumer._read_offset.update(read or {})
        await consumer._deliver([(m.tp, m) for m in fetched])
        return got, dict(consumer._read_offset)

    return asyncio.run(run())


def test_a_fetched_set_is_delivered_in_order_under_one_wait(tmp_path: Path) -> None:
    fetched = [_message(o, p) for o in range(250) for p in (0, 1)]
    got, read = _deliver(tmp_path, fetched)
    assert got == [m.offset for m in fetched]
    assert read == {TP("events", 0): 249, TP("events", 1): 249}


def test_records_read_already_are_dropped_as_faust_does(tmp_path: Path) -> None:
    got, read = _deliver(tmp_path, [_message(o) for o in range(5, 10)], read={TP("events", 0): 7})
    assert got == [7, 8, 9]
    assert read[TP("events", 0)] == 9


def test_a_rebalance_stops_the_rest_of_the_set(tmp_path: Path) -> None:
    got, read = _deliver(tmp_path, [_message(o) for o in range(10)], stop_at=3)
    assert got == [0, 1, 2, 3]  # the rest is fetched again after faust's seek
    assert read[TP("events", 0)] == 3


def test_nothing_is_delivered_while_rebalancing_and_the_rest_is_fetched_again(
    tmp_path: Path,
) -> None:
    """From the record where a rebalance starts, no more source records are delivered, and
    each still assigned partition is sought back to its first record held back (faust would
    clear such records from the stream buffers when the rebalance ends, with the read offset
    past them: lost). Changelog records (a table recovery reads them meanwhile) still are."""

    def changelog(offset: int) -> Message:
        tp = TP("users-changelog", 0)
        return Message(tp.topic, 0, offset, 0.0, 0, None, b"u", b"{}", None, tp=tp)

    async def run() -> tuple[list[tuple[str, int, int]], list[tuple[int, int]]]:
        app: Any = build_faust(Settings(state_dir=tmp_path), partitions=4).app
        consumer: Any = app.consumer
        app.topics._acking_topics.add("events")  # a source topic (an agent reads it)
        got: list[tuple[str, int, int]] = []
        sought: list[tuple[int, int]] = []

        async def callback(message: Message) -> None:
            got.append((message.topic, message.partition, message.offset))
            if (message.topic, message.partition, message.offset) == ("events", 0, 2):
                app.rebalancing = True  # faust's on_rebalance_start

        async def seek(tp: TP, offset: int) -> None:
            sought.append((tp.partition, offset))

        consumer.callback = callback
        consumer.seek = seek
        consumer.assignment = lambda: {TP("events", 0), TP("events", 1)}  # not 2 any more
        fetched = [
            m for o in range(5) for m in (*(_message(o, p) for p in (0, 1, 2)), changelog(o))
        ]
        await consumer._deliver([(m.tp, m) for m in fetched])
        app.rebalancing = False
        return got, sought

    got, sought = asyncio.run(run())
    events = [(p, o) for t, p, o in got if t == "events"]
    assert events == [(0, 0), (1, 0), (2, 0), (0, 1), (1, 1), (2, 1), (0, 2)]
    assert [o for t, _, o in got if t == "users-changelog"] == [0, 1, 2, 3, 4]
    assert sought == [(1, 2), (0, 3)]


def _marks(
    tmp_path: Path,
    *,
    suspended_s: float,
    buffered: bool = False,
    progressing: bool = True,
    revoking: bool = False,
) -> int:
    """Polls the consumer marks for aiokafka in one wait for records, with no active
    partition, flow suspended (a rebalance) for ``suspended_s`` first."""

    async def run() -> int:
        app: Any = build_faust(Settings(state_dir=tmp_path), partitions=4).app
        app.progressing = lambda: progressing
        consumer: Any = app.consumer
        consumer.mark_every_s = 0.05
        consumer._revoking = revoking
        marks = [0]

        async def mark() -> None:
            marks[0] += 1

        consumer._mark_polled = mark
        consumer._active_partitions = set()  # assigned partitions, none active
        if buffered:  # inactive because their stream buffer is full
            consumer._buffered_partitions.add(TP("events", 0))
        if suspended_s:
            consumer.suspend_flow.set()
            consumer.flow_active = False
            asyncio.get_running_loop().call_later(suspended_s, consumer.resume_flow)
        records, active = await consumer._wait_next_records(0.1)
        assert (records, active) == ({}, set())
        return marks[0]

    return asyncio.run(run())


def test_a_worker_waiting_for_an_assignment_counts_as_polling(tmp_path: Path) -> None:
    """aiokafka rejoins only after a poll and faust polls only once assigned (aiokafka
    #1187): while flow is suspended, each ``mark_every_s`` counts as a poll; not while
    faust's revocation runs (it waits for the events in hand)."""
    during = _marks(tmp_path, suspended_s=0.3, buffered=True, progressing=False)
    assert during >= 2
    assert _marks(tmp_path, suspended_s=0.3, buffered=True, progressing=False, revoking=True) == 0


def test_a_spare_counts_as_polling_and_a_full_buffer_only_with_progress(tmp_path: Path) -> None:
    assert _marks(tmp_path, suspended_s=0) == 1  # faust slept a second without asking aiokafka
    assert _marks(tmp_path, suspended_s=0, buffered=True) == 1  # the agent takes events
    assert _marks(tmp_path, suspended_s=0, buffered=True, progressing=False) == 0  # stalled


def test_counting_a_poll_resets_aiokafkas_poll_clock() -> None:
    async def idle_after() -> float:
        consumer = aiokafka.AIOKafkaConsumer(bootstrap_servers="127.0.0.1:9")  # never started
        subscription: Any = consumer._subscription
        subscription._last_fetch_ended -= 100.0  # no poll for 100 s
        assert subscription.fetcher_idle_time >= 100.0
        count_a_poll(consumer)
        return float(subscription.fetcher_idle_time)

    assert asyncio.run(idle_after()) < 1.0


def test_the_max_poll_interval_is_a_setting(tmp_path: Path) -> None:
    async def interval() -> float:
        settings = Settings(state_dir=tmp_path, consumer_max_poll_interval_s=42.0)
        return build_faust(settings, partitions=4).app.conf.broker_max_poll_interval

    assert asyncio.run(interval()) == 42.0


def _start_until_before_consuming(
    tmp_path: Path, before: Any, then: Any
) -> tuple[bool, bool, BaseException | None]:
    """Start an App whose ``before_consuming`` is ``before`` (given an Event to set when it
    runs), do ``then(app)`` once it runs, and tell whether the consumer had started by then,
    whether ``consuming`` got set, and what the start raised."""

    async def run() -> tuple[bool, bool, BaseException | None]:
        app: Any = build_faust(Settings(state_dir=tmp_path / "s"), partitions=4).app
        entered = asyncio.Event()
        app.before_consuming = lambda: before(entered)
        start = asyncio.ensure_future(app.start())
        await asyncio.wait_for(entered.wait(), 10)
        consumer_started = app.consumer.started
        await then(app)
        try:
            await asyncio.wait_for(start, 10)
            raised = None
        except Exception as exc:
            raised = exc
        if not app.should_stop:
            await app.stop()
        return consumer_started, app.consuming.is_set(), raised

    return asyncio.run(run())


def test_faust_starts_only_after_before_consuming_and_a_stop_meanwhile_ends_the_start(
    tmp_path: Path,
) -> None:
    async def before(entered: asyncio.Event) -> None:
        entered.set()
        await asyncio.Event().wait()  # a start-up that never ends by itself

    async def stop(app: Any) -> None:
        await app.stop()

    consumer_started, consuming, raised = _start_until_before_consuming(tmp_path, before, stop)
    assert (consumer_started, consuming, raised) == (False, False, None)


def test_a_failing_before_consuming_fails_the_start(tmp_path: Path) -> None:
    async def before(entered: asyncio.Event) -> None:
        entered.set()
        await asyncio.sleep(0.05)
        raise RuntimeError("the catalog cannot be read")

    async def nothing(app: Any) -> None:
        del app

    consumer_started, consuming, raised = _start_until_before_consuming(tmp_path, before, nothing)
    assert (consumer_started, consuming) == (False, False)
    assert isinstance(raised, RuntimeError)
