"""Assemble and run a worker: settings → encoder, engine, faust app, readers, HTTP."""

from __future__ import annotations

import asyncio
import dataclasses
import gc
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import faust
from aiokafka import ConsumerRecord
from confluent_kafka.admin import AdminClient
from prometheus_client import CollectorRegistry
from threadpoolctl import threadpool_limits

from encoders.factory import build_encoder
from encoders.settings import EncoderSettings
from streams.clock import SystemClock
from streams.core.config import load_params
from streams.core.engine import Engine
from streams.core.messages import Message
from streams.faust_app.app import EVENT_TOPICS, build_faust
from streams.faust_app.http import start_http
from streams.faust_app.runtime import WorkerRuntime
from streams.faust_app.staging import StageProxy
from streams.kafka.broadcast import BroadcastReader
from streams.kafka.output import OutputProducer
from streams.kafka.signals_codec import SignalCodecError, decode_deltas
from streams.metrics import WorkerMetrics
from streams.settings import Settings

__all__ = ["WorkerSetupError", "build_worker", "event_partitions", "run_worker"]

log = logging.getLogger(__name__)


class WorkerSetupError(RuntimeError):
    """The worker cannot start (missing topics, unequal partition counts, ...)."""


def event_partitions(settings: Settings) -> int:
    """The partition count shared by every event topic (faust co-partitions them)."""
    admin = AdminClient(settings.client_config())
    topics = admin.list_topics(timeout=30).topics
    counts = {}
    for name in (*EVENT_TOPICS, "items", "signals", "recommendations"):
        full = settings.topic(name)
        if full not in topics:
            raise WorkerSetupError(f"topic {full} is missing: run `topics create` first")
        counts[name] = len(topics[full].partitions)
    event_counts = {counts[t] for t in EVENT_TOPICS}
    if len(event_counts) != 1:
        raise WorkerSetupError(f"event topics must have equal partition counts: {counts}")
    return event_counts.pop()


def _engine(settings: Settings, registry: CollectorRegistry, proxy: StageProxy) -> Engine:
    encoder_settings = EncoderSettings()
    if encoder_settings.cache_dir is None:  # vectors survive restarts in the state dir
        encoder_settings = encoder_settings.model_copy(
            update={"cache_dir": settings.state_dir / "embeddings"}
        )
    encoder = build_encoder(encoder_settings, registry)
    params = dataclasses.replace(load_params(settings.engine_config), apply_signals_locally=False)
    return Engine(
        params, encoder, users=WorkerRuntime.user_store(proxy, settings.state_cache_users)
    )


class _Readers:
    """The catalog and signal readers and what they feed the engine."""

    def __init__(self, settings: Settings, rt: WorkerRuntime) -> None:
        self.rt = rt
        self.items = BroadcastReader(
            settings.bootstrap,
            settings.topic("items"),
            self.on_items,
            client_id=f"{settings.app_id}-items",
        )
        self.signals = BroadcastReader(
            settings.bootstrap,
            settings.topic("signals"),
            self.on_signals,
            client_id=f"{settings.app_id}-signals",
        )

    async def on_items(self, records: Sequence[ConsumerRecord[bytes, bytes]]) -> None:
        rt = self.rt
        msgs = [Message(r.value or b"", r.key, "items", r.partition, r.offset) for r in records]
        result = await rt.in_engine(rt.engine.apply_items, msgs)
        if result.rejections:
            await rt.publish_rejections(result.rejections)
        rt.metrics.items.set(len(rt.engine.catalog))

    async def on_signals(self, records: Sequence[ConsumerRecord[bytes, bytes]]) -> None:
        rt = self.rt
        for r in records:
            try:
                deltas = decode_deltas(r.value or b"")
            except SignalCodecError:
                log.exception("skipping an undecodable signals record %d@%d", r.partition, r.offset)
                continue
            await rt.in_engine(rt.engine.apply_signal_deltas, deltas)
            rt.last_signal_at = time.monotonic()
            rt.signals_changed = True
            rt.metrics.signal_deltas.inc()

    async def until_loaded(self) -> None:
        await self.items.caught_up.wait()
        await self.signals.caught_up.wait()
        # the item index of a large catalog, built now rather than in the first batch
        await self.rt.in_engine(self.rt.engine.prepare_recommend)
        log.info(
            "catalog (%d items) and signals loaded; processing events", len(self.rt.engine.catalog)
        )
        self.rt.ready.set()


def build_worker(settings: Settings, registry: CollectorRegistry | None = None) -> faust.App:
    """The faust App with the agent, the readers, the refresher and the HTTP endpoint."""
    registry = registry or CollectorRegistry()
    partitions = event_partitions(settings)
    proxy = StageProxy()
    engine = _engine(settings, registry, proxy)
    parts = build_faust(settings, partitions=partitions)
    rt = WorkerRuntime(
        settings=settings,
        parts=parts,
        engine=engine,
        proxy=proxy,
        metrics=WorkerMetrics(registry),
        partitions=partitions,
        clock=SystemClock(),
        output=OutputProducer(settings.client_config()),
    )
    readers = _Readers(settings, rt)
    app = parts.app
    event_topics = {settings.topic(t) for t in EVENT_TOPICS}

    async def process(stream: Any) -> None:
        await rt.ready.wait()
        async for batch in stream.take_events(
            settings.batch_max_events, within=settings.batch_max_wait_s
        ):
            await rt.process_batch(batch)

    counted = [0.0]

    async def housekeeping() -> None:
        _lag_metrics(app, rt)
        if time.monotonic() - counted[0] > 60 and rt.ready.is_set():
            counted[0] = time.monotonic()  # a key scan of the local RocksDB partitions
            rt.metrics.users_tracked.set(sum(1 for _ in parts.users))
        if (
            rt.pending_refresh()
            and rt.ready.is_set()
            and rt.idle_for() >= settings.refresh_idle_s
            and readers.signals.live_lag() == 0
        ):
            await rt.refresh()

    def health() -> dict[str, Any]:
        recovering = bool(getattr(app, "in_recovery", False))
        return {
            "status": "ok" if rt.ready.is_set() and not recovering else "starting",
            "catalog_items": len(engine.catalog),
            "items_caught_up": readers.items.caught_up.is_set(),
            "signals_caught_up": readers.signals.caught_up.is_set(),
            "signals_lag": readers.signals.live_lag(),
            "recovering": recovering,
            "batches": rt.batches,
            "processed": rt.processed,
            "pending_refresh": rt.pending_refresh(),
            "partitions": sorted(f"{t}:{p}" for t, p in rt.positions),
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

    def owned() -> set[int]:
        try:
            return {tp.partition for tp in app.consumer.assignment() if tp.topic in event_topics}
        except Exception:  # not assigned yet
            return set()

    rt.owned = owned
    app.agent(parts.events, name=f"{settings.app_id}.events", concurrency=1)(process)
    tasks: list[Callable[[], Awaitable[None]]] = [
        readers.items.run,
        readers.signals.run,
        readers.until_loaded,
        serve_http,
    ]
    for task in tasks:
        app.task(task)
    app.timer(1.0)(housekeeping)
    return app


def _lag_metrics(app: faust.App, rt: WorkerRuntime) -> None:
    """Consumer lag per assigned partition and table recovery progress (never raises: the
    Prometheus-sensor trap, faust #214, is end offsets unknown during a rebalance)."""
    metrics = rt.metrics
    try:
        consumer = app.consumer
        assignment = consumer.assignment()
    except Exception:  # not started / rebalancing
        return
    for tp in assignment:
        try:
            high = consumer.highwater(tp)
        except Exception:
            high = None
        if high is not None:
            done = rt.positions.get((tp.topic, tp.partition), 0)
            metrics.consumer_lag.labels(tp.topic, str(tp.partition)).set(max(0, high - done))
    try:
        recovery: Any = getattr(app.tables, "recovery", None)
        metrics.recovery_remaining.set(recovery.active_remaining_total() if recovery else 0)
    except Exception:
        metrics.recovery_remaining.set(0)


def run_worker(settings: Settings) -> None:
    """Run until SIGTERM/SIGINT (a clean stop: the batch in flight finishes first).

    numpy's BLAS pool is capped at ``settings.blas_threads``: the engine's matrix products
    are small and a spinning pool on a busy machine costs several times their work. The
    objects alive after start-up (modules, the model) are frozen out of the cyclic GC.
    """
    threadpool_limits(limits=settings.blas_threads, user_api="blas")
    app = build_worker(settings)
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
