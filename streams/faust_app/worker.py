"""Assemble and run a worker: settings → encoder, engine, faust app, readers, HTTP."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Sequence
from typing import Any

from aiokafka import ConsumerRecord
from confluent_kafka.admin import AdminClient
from prometheus_client import CollectorRegistry

from encoders.factory import build_encoder
from encoders.settings import EncoderSettings
from streams.clock import SystemClock
from streams.core.config import load_params
from streams.core.engine import Engine
from streams.core.messages import Message
from streams.faust_app.app import EVENT_TOPICS, build_faust
from streams.faust_app.http import start_http
from streams.faust_app.runtime import Outbound, WorkerRuntime
from streams.faust_app.staging import BatchStage, StageProxy
from streams.kafka.broadcast import BroadcastReader
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


def build_worker(settings: Settings, registry: CollectorRegistry | None = None) -> Any:
    """The faust App with the agent, the readers, the refresher and the HTTP endpoint."""
    registry = registry or CollectorRegistry()
    metrics = WorkerMetrics(registry)
    partitions = event_partitions(settings)
    encoder_settings = EncoderSettings()
    if encoder_settings.cache_dir is None:
        encoder_settings = encoder_settings.model_copy(
            update={"cache_dir": settings.state_dir / "embeddings"}
        )
    encoder = build_encoder(encoder_settings, registry)
    params = dataclasses.replace(load_params(settings.engine_config), apply_signals_locally=False)
    proxy = StageProxy()
    engine = Engine(params, encoder, users=WorkerRuntime.user_store(proxy))
    parts = build_faust(settings, partitions=partitions)
    rt = WorkerRuntime(
        settings=settings,
        parts=parts,
        engine=engine,
        proxy=proxy,
        metrics=metrics,
        partitions=partitions,
        clock=SystemClock(),
    )
    app = parts.app

    async def on_items(records: Sequence[ConsumerRecord[bytes, bytes]]) -> None:
        msgs = [Message(r.value or b"", r.key, "items", r.partition, r.offset) for r in records]
        result = await rt.in_engine(engine.apply_items, msgs)
        if result.rejections:
            await rt.publish_rejections(result.rejections)
        metrics.items.set(len(engine.catalog))

    async def on_signals(records: Sequence[ConsumerRecord[bytes, bytes]]) -> None:
        for r in records:
            try:
                deltas = decode_deltas(r.value or b"")
            except SignalCodecError:
                log.exception(
                    "skipping an undecodable signals record at %d@%d", r.partition, r.offset
                )
                continue
            await rt.in_engine(engine.apply_signal_deltas, deltas)
            rt.last_signal_at = time.monotonic()
            metrics.signal_deltas.inc()

    items_reader = BroadcastReader(
        settings.bootstrap, settings.topic("items"), on_items, client_id=f"{settings.app_id}-items"
    )
    signals_reader = BroadcastReader(
        settings.bootstrap,
        settings.topic("signals"),
        on_signals,
        client_id=f"{settings.app_id}-signals",
    )

    @app.agent(parts.events, name=f"{settings.app_id}.events", concurrency=1)
    async def process(stream: Any) -> None:
        await rt.ready.wait()
        async for batch in stream.take_events(
            settings.batch_max_events, within=settings.batch_max_wait_s
        ):
            await rt.process_batch(batch)

    @app.task
    async def read_items() -> None:
        await items_reader.run()

    @app.task
    async def read_signals() -> None:
        await signals_reader.run()

    @app.task
    async def become_ready() -> None:
        await items_reader.caught_up.wait()
        await signals_reader.caught_up.wait()
        log.info("catalog (%d items) and signals loaded; processing events", len(engine.catalog))
        rt.ready.set()

    @app.timer(1.0)
    async def housekeeping() -> None:
        _lag_metrics(app, rt, metrics)
        if (
            rt.dirty
            and rt.ready.is_set()
            and rt.idle_for() >= settings.refresh_idle_s
            and signals_reader.live_lag() == 0
        ):
            await rt.refresh()

    def health() -> dict[str, Any]:
        recovering = bool(getattr(app, "in_recovery", False))
        status = "ok" if rt.ready.is_set() and not recovering else "starting"
        return {
            "status": status,
            "catalog_items": len(engine.catalog),
            "items_caught_up": items_reader.caught_up.is_set(),
            "signals_caught_up": signals_reader.caught_up.is_set(),
            "recovering": recovering,
            "batches": rt.batches,
            "processed": rt.processed,
            "pending_refresh": len(rt.dirty),
            "signals_lag": signals_reader.live_lag(),
            "partitions": sorted(f"{t}:{p}" for t, p in rt.positions),
        }

    @app.task
    async def serve_http() -> None:
        runner, port = await start_http(
            registry, health, settings.metrics_host, settings.metrics_port
        )
        log.info("metrics on http://%s:%d/metrics, health on /health", settings.metrics_host, port)
        try:
            await asyncio.Event().wait()
        finally:
            await runner.cleanup()

    event_topics = {settings.topic(t) for t in EVENT_TOPICS}

    def owned() -> set[int]:
        try:
            return {tp.partition for tp in app.consumer.assignment() if tp.topic in event_topics}
        except Exception:  # not assigned yet
            return set()

    rt.owned = owned
    return app


def _lag_metrics(app: Any, rt: WorkerRuntime, metrics: WorkerMetrics) -> None:
    try:
        consumer = app.consumer
        assignment = consumer.assignment()
    except Exception:  # not started / rebalancing
        return
    for tp in assignment:
        try:
            high = consumer.highwater(tp)
        except Exception:  # the Prometheus-sensor trap (#214): unknown during rebalance
            continue
        if high is None:
            continue
        done = rt.positions.get((tp.topic, tp.partition), 0)
        metrics.consumer_lag.labels(tp.topic, str(tp.partition)).set(max(0, high - done))
    try:
        metrics.recovery_remaining.set(app.tables.recovery.active_remaining_total())
    except Exception:
        metrics.recovery_remaining.set(0)


_ = (BatchStage, Outbound)


def run_worker(settings: Settings) -> None:
    """Run until SIGTERM/SIGINT (a clean stop: the batch in flight finishes first)."""
    import faust

    app = build_worker(settings)
    worker = faust.Worker(
        app,
        loglevel=settings.log_level,
        quiet=True,
        redirect_stdouts=False,
        override_logging=False,
    )
    worker.execute_from_commandline()
