"""Assemble and run a worker: settings → encoder, engine, faust app, readers, HTTP."""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from functools import partial
from typing import Any

import faust
from aiokafka import ConsumerRecord
from confluent_kafka.admin import AdminClient
from prometheus_client import CollectorRegistry
from threadpoolctl import threadpool_limits

from streams.clock import SystemClock
from streams.core.config import load_params
from streams.core.messages import Message
from streams.faust_app.app import EVENT_TOPICS, build_faust
from streams.faust_app.checkpoints import CHECKPOINT_TOPIC, SignalCheckpoints
from streams.faust_app.http import start_http
from streams.faust_app.lag import CommittedLookup, group_committed, lag_metrics
from streams.faust_app.runtime import WorkerRuntime, die
from streams.faust_app.transport import App
from streams.gc_schedule import FullCollections, GcPauses
from streams.host.build import build_calls
from streams.host.client import EngineClient, ThreadEngine
from streams.host.process import ProcessEngine
from streams.kafka.broadcast import BroadcastReader
from streams.kafka.output import OutputProducer
from streams.kafka.security import aiokafka_security
from streams.metrics import WorkerMetrics
from streams.settings import Settings

__all__ = [
    "WorkerSetupError",
    "build_worker",
    "event_partitions",
    "run_worker",
    "tombstone_deletion",
]

log = logging.getLogger(__name__)
_LIBRDKAFKA = logging.getLogger("librdkafka")
WORKER_GC_PAUSES = "interest_tracker_gc_pause_seconds"
# a worker holding events without completing a batch for longer than this stops counting
# as polling when its partitions are out of the fetch (full buffers): aiokafka's poll clock
# then runs as the stall lasts, and it leaves the group after the max poll interval
PROGRESS_WITHIN_S = 1.0
# an idle worker asks its engine process for its metric values when they are this old
ENGINE_METRICS_IDLE_S = 5.0


class WorkerSetupError(RuntimeError):
    """The worker cannot start (missing topics, unequal partition counts, ...)."""


def event_partitions(settings: Settings) -> int:
    """The partition count shared by every event topic (faust co-partitions them)."""
    admin = AdminClient(settings.client_config())
    topics = admin.list_topics(timeout=30).topics
    counts = {}
    outputs = ("recommendations", "interest-drift", "events.dlq")
    for name in (*EVENT_TOPICS, "items", "signals", CHECKPOINT_TOPIC, *outputs):
        full = settings.topic(name)
        if full not in topics:
            raise WorkerSetupError(f"topic {full} is missing: run `topics create` first")
        counts[name] = len(topics[full].partitions)
    event_counts = {counts[t] for t in EVENT_TOPICS}
    if len(event_counts) != 1:
        raise WorkerSetupError(f"event topics must have equal partition counts: {counts}")
    return event_counts.pop()


def start_engine(settings: Settings, registry: CollectorRegistry) -> EngineClient:
    """The engine, built and ready: in a child process (``engine_process``, the default) with
    its encoder metrics forwarded to ``registry``, or in a thread of this process."""
    if not settings.engine_process:
        return ThreadEngine(build_calls(settings, registry))
    engine = ProcessEngine(
        partial(build_calls, settings),
        on_lost=die,
        log_level=settings.log_level,
        blas_threads=settings.blas_threads,
        gc_full_every_s=settings.gc_full_every_s,
    )
    engine.wait_ready(settings.engine_start_timeout_s)
    registry.register(engine.metrics)
    return engine


class _Readers:
    """The catalog and signal readers and what they feed the engine."""

    def __init__(self, settings: Settings, rt: WorkerRuntime) -> None:
        self.rt = rt
        self.items = BroadcastReader(
            settings.bootstrap,
            settings.topic("items"),
            self.on_items,
            client_id=f"{settings.app_id}-items",
            security=aiokafka_security(settings),
        )
        self.signals = BroadcastReader(
            settings.bootstrap,
            settings.topic("signals"),
            self.on_signals,
            client_id=f"{settings.app_id}-signals",
            security=aiokafka_security(settings),
        )
        self.checkpoints = SignalCheckpoints(settings, rt.engine, rt.metrics, writes=lambda: False)
        self.signals.after_fetch = self.checkpoints.after_fetch

    async def run_signals(self) -> None:
        """Load the signals checkpoint, then read ``signals`` on from it."""
        self.signals.start = await self.checkpoints.restore()
        try:
            await self.signals.run()
        finally:
            await self.checkpoints.close()

    async def run_items(self) -> None:
        """Read the catalog once the checkpoint is loaded (a delete read after it prunes the
        restored signals)."""
        await self.checkpoints.restored.wait()
        await self.items.run()

    async def on_items(self, records: Sequence[ConsumerRecord[bytes, bytes]]) -> None:
        rt = self.rt
        msgs = [
            Message(value, r.key, "items", r.partition, r.offset)
            for r in records
            if (value := r.value if r.value is not None else tombstone_deletion(r.key)) is not None
        ]
        result = await rt.engine.apply_items(msgs)
        if result.rejections:
            keys = {(m.topic, m.partition, m.offset): m.key for m in msgs}
            await rt.publish_rejections(result.rejections, keys)
        rt.metrics.items.set(result.catalog_items)

    async def on_signals(self, records: Sequence[ConsumerRecord[bytes, bytes]]) -> None:
        rt = self.rt
        out = await rt.engine.apply_signals([r.value or b"" for r in records])
        if out.applied:
            rt.last_signal_at = time.monotonic()
            rt.signals_changed = True
            rt.metrics.signal_deltas.inc(out.applied)
        rt.metrics.signal_dropped.labels("repeated").inc(out.repeated)
        rt.metrics.signal_dropped.labels("incomplete").inc(out.abandoned)

    async def until_loaded(self) -> None:
        await self.items.caught_up.wait()
        await self.signals.caught_up.wait()
        # the item index of a large catalog, built now rather than in the first batch
        await self.rt.engine.prepare()
        log.info(
            "catalog (%d items) and signals loaded; joining the consumer group",
            self.rt.engine.catalog_items,
        )
        self.rt.ready.set()


def _event_topics(settings: Settings) -> set[str]:
    """The full names of the event topics."""
    return {settings.topic(t) for t in EVENT_TOPICS}


class _Housekeeping:
    """What the worker does every second: metrics (lag, stall, users, the engine's when idle),
    scheduled full collections, and the refresh of recommendations when idle."""

    def __init__(
        self, app: App, rt: WorkerRuntime, readers: _Readers, collections: FullCollections | None
    ) -> None:
        settings = rt.settings
        self.app, self.rt, self.readers, self.collections = app, rt, readers, collections
        self.event_topics = _event_topics(settings)
        self.counted = 0.0
        # librdkafka's messages through logging (served by poll), as the output producer's
        config: dict[str, Any] = {**settings.client_config(), "logger": _LIBRDKAFKA}
        self.admin = AdminClient(config)
        self.lookup = CommittedLookup(partial(group_committed, self.admin, settings.app_id))
        self.asking: asyncio.Future[None] | None = None  # the engine's metric values

    async def run(self) -> None:
        rt, collections = self.rt, self.collections
        lag_metrics(self.app, rt.metrics, rt.positions, self.event_topics, self.lookup)
        rt.metrics.stalled.set(rt.stalled_for(time.monotonic()))
        if collections is not None and collections.due(time.monotonic(), idle=not rt.busy):
            collections.collect(time.monotonic())
        self.admin.poll(0)
        self.ask_engine_metrics()
        if time.monotonic() - self.counted > 60 and rt.ready.is_set():
            self.counted = time.monotonic()  # a key scan of the local RocksDB partitions
            rt.metrics.users_tracked.set(sum(1 for _ in rt.parts.users))
        if (
            rt.pending_refresh()
            and rt.ready.is_set()
            and rt.idle_for() >= rt.settings.refresh_idle_s
            and self.readers.signals.live_lag() == 0
        ):
            await rt.refresh()

    def ask_engine_metrics(self) -> None:
        """When idle, have the engine's metric values brought up to date (calls bring them
        along and none came lately), in the background: an engine call queued ahead (a
        catalog burst) must not hold the timer, nor the metrics that would show the engine
        hung (stalled, lag). One request at a time."""
        rt = self.rt
        idle = not rt.busy and rt.ready.is_set()
        if idle and (self.asking is None or self.asking.done()):
            self.asking = asyncio.ensure_future(self._engine_metrics())

    async def _engine_metrics(self) -> None:
        try:
            await self.rt.engine.refresh_metrics(ENGINE_METRICS_IDLE_S)
        except Exception as exc:  # the next batch brings them, or shows what is wrong
            log.warning("the engine's metric values could not be read: %r", exc)


def build_worker(
    settings: Settings,
    engine: EngineClient,
    registry: CollectorRegistry,
    partitions: int,
    collections: FullCollections | None = None,
) -> faust.App:
    """The faust App with the agent, the readers, the refresher and the HTTP endpoint
    (``partitions``: of the event topics, :func:`event_partitions`). ``collections``: this
    process's full garbage collections, settled once the worker has joined its group and then run
    from the housekeeping timer when no batch is in hand (:mod:`streams.gc_schedule`)."""
    parts = build_faust(settings, partitions=partitions)
    rt = WorkerRuntime(
        settings=settings,
        parts=parts,
        engine=engine,
        metrics=WorkerMetrics(registry),
        partitions=partitions,
        clock=SystemClock(),
        output=OutputProducer(settings.client_config()),
        event_types=load_params(settings.engine_config).event_types,
    )
    readers = _Readers(settings, rt)
    app = parts.app
    topics = _event_topics(settings)
    checkpoints = readers.checkpoints

    async def process(stream: Any) -> None:
        await rt.ready.wait()
        try:
            async for batch in stream.take_events(
                settings.batch_max_events, within=settings.batch_max_wait_s
            ):
                await rt.process_batch(batch)
        finally:
            await rt.drain()  # a clean stop completes (and acks) what was handed over

    housekeeping = _Housekeeping(app, rt, readers, collections)

    def health() -> dict[str, Any]:
        recovering = bool(getattr(app, "in_recovery", False))
        ok = rt.ready.is_set() and app.consuming.is_set() and not recovering
        stalled_s = rt.stalled_for(time.monotonic())
        stalled = stalled_s > settings.consumer_max_poll_interval_s
        return {
            "status": "stalled" if stalled else "ok" if ok else "starting",
            "stalled_s": round(stalled_s, 1),
            "consuming": app.consuming.is_set(),
            "generation": app.consumer_generation_id,
            "catalog_items": engine.catalog_items,
            "engine_alive": engine.alive(),
            "items_caught_up": readers.items.caught_up.is_set(),
            "signals_caught_up": readers.signals.caught_up.is_set(),
            "signals_lag": readers.signals.live_lag(),
            "signals_checkpoint_covered": checkpoints.restored_covered,
            "recovering": recovering,
            "batches": rt.batches,
            "processed": rt.processed,
            "pending_refresh": rt.pending_refresh(),
            "partitions": _assigned(app, topics),
        }

    async def serve_http() -> None:
        runner, port = await start_http(
            registry, health, settings.metrics_host, settings.metrics_port
        )
        log.info("metrics on http://%s:%d/metrics, health on /health", settings.metrics_host, port)
        try:
            await asyncio.Event().wait()
        finally:
            await runner.cleanup()

    def owned() -> set[int]:  # the event partitions assigned
        try:
            return {tp.partition for tp in app.consumer.assignment() if tp.topic in topics}
        except Exception:  # not assigned yet
            return set()

    rt.owned = owned
    checkpoints.writes = lambda: 0 in owned()
    rt.generation = lambda: app.consumer_generation_id
    rt.sync_signals = readers.signals.sync
    app.agent(parts.events, name=f"{settings.app_id}.events", concurrency=1)(process)

    app.before_consuming = partial(_start_up, app, readers, serve_http, collections)
    app.progressing = lambda: rt.stalled_for(time.monotonic()) < PROGRESS_WITHIN_S
    app.timer(1.0)(housekeeping.run)
    return app


async def _start_up(
    app: App,
    readers: _Readers,
    serve_http: Callable[[], Awaitable[None]],
    collections: FullCollections | None,
) -> None:
    """The worker's start, before faust's (``App.before_consuming``): the health endpoint
    and the readers first; the consumer (and with it the group, the tables and the agent)
    once the catalog and the signals are loaded."""
    for task in (serve_http, readers.run_items, readers.run_signals):
        app.add_future(task())
    app.add_future(_settle_when_consuming(app, collections))
    await readers.until_loaded()


async def _settle_when_consuming(app: App, collections: FullCollections | None) -> None:
    """Start-up is over once faust runs too: what it built stays (frozen out of the cyclic
    GC), and full collections follow the schedule from then on."""
    await app.consuming.wait()
    if collections is not None:
        collections.settle(time.monotonic())


def tombstone_deletion(key: bytes | None) -> bytes | None:
    """The catalog deletion a tombstone on ``items`` (a record without a value) stands for:
    its key's item goes, as with ``{"item_id", "deleted": true}``. ``None``: a tombstone
    whose key is not an item id (none, or not UTF-8) deletes nothing."""
    try:
        item_id = key.decode() if key else None
    except UnicodeDecodeError:
        return None
    if not item_id:
        return None
    return json.dumps({"item_id": item_id, "deleted": True}).encode()


def _assigned(app: faust.App, event_topics: set[str]) -> list[str]:
    """``topic:partition`` of the event partitions assigned to the worker now."""
    try:
        tps = app.consumer.assignment()
    except Exception:  # not started / rebalancing
        return []
    return sorted(f"{tp.topic}:{tp.partition}" for tp in tps if tp.topic in event_topics)


def run_worker(settings: Settings) -> None:
    """Run until SIGTERM/SIGINT (a clean stop: the batch in flight finishes first, then the
    engine process is stopped).

    numpy's BLAS pool is capped at ``settings.blas_threads`` (here and in the engine
    process): the engine's matrix products are small and a spinning pool on a busy machine
    costs several times their work. The objects alive after start-up (modules, the model)
    are frozen out of the cyclic GC, and so are those alive once the catalog is loaded;
    then the worker runs its full collections itself (``gc_full_every_s``,
    :mod:`streams.gc_schedule`), as the engine process does, and records every
    collection's pause.
    """
    threadpool_limits(limits=settings.blas_threads, user_api="blas")
    registry = CollectorRegistry()
    partitions = event_partitions(settings)  # fails on missing topics before the engine starts
    pauses = GcPauses(registry, WORKER_GC_PAUSES, "worker process")
    pauses.install()
    collections = FullCollections(settings.gc_full_every_s)
    engine = start_engine(settings, registry)
    try:
        app = build_worker(settings, engine, registry, partitions, collections)
        gc.collect()
        gc.freeze()
        worker = faust.Worker(
            app,
            loglevel=settings.log_level,
            quiet=True,
            redirect_stdouts=False,
            override_logging=False,
        )
        worker.execute_from_commandline()
    finally:
        collections.release()
        pauses.remove()
        engine.close()
