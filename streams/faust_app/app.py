"""The faust App, its source and output topics, and the user-state table."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import faust

from streams.faust_app.state_store import store_url
from streams.faust_app.transport import App
from streams.kafka.security import ssl_context
from streams.settings import KafkaSettings, Settings

__all__ = ["EVENT_TOPICS", "FaustParts", "build_faust", "credentials"]

EVENT_TOPICS = ("events.click", "events.view", "events.purchase", "events")


def _raw() -> faust.Schema:  # type: ignore[type-arg]
    return faust.Schema(
        key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw"
    )


@dataclass(frozen=True)
class FaustParts:
    """What the runtime needs from faust."""

    app: App
    events: faust.TopicT
    users: Any  # faust.Table of bytes -> bytes


def credentials(settings: KafkaSettings) -> faust.types.auth.CredentialsT | None:
    """faust's credentials for ``settings`` (its consumer, producer and topic admin take
    them): SASL (over TLS for ``SASL_SSL``), TLS alone, or none."""
    context = ssl_context(settings)
    if settings.sasl_mechanism is not None:
        password = settings.sasl_password
        return faust.SASLCredentials(
            username=settings.sasl_username,
            password=password.get_secret_value() if password else None,
            mechanism=settings.sasl_mechanism,
            ssl_context=context,
        )
    if context is not None:
        return faust.SSLCredentials(context)
    return None


def build_faust(settings: Settings, *, partitions: int) -> FaustParts:
    """The App: RocksDB tables under ``state_dir``, raw bytes everywhere, no faust web server.

    ``partitions`` is the partition count of the event topics (the table's changelog gets the
    same, so a user's state lives on the partition of the user's events).
    """
    app = App(
        settings.app_id,
        fetch_max_wait_ms=settings.consumer_fetch_max_wait_ms,
        fetch_min_bytes=settings.consumer_fetch_min_bytes,
        broker=[f"kafka://{h}" for h in settings.bootstrap.split(",")],
        broker_credentials=credentials(settings),
        store="rocksdb://",
        datadir=str(settings.state_dir),
        web_enabled=False,
        topic_disable_leader=True,
        topic_partitions=partitions,
        topic_replication_factor=settings.replication_factor,
        consumer_auto_offset_reset="earliest",
        producer_acks=-1,
        producer_linger=0.005,
        producer_compression_type="lz4",
        broker_commit_every=settings.batch_max_events,
        broker_commit_interval=1.0,
        broker_max_poll_interval=settings.consumer_max_poll_interval_s,
        broker_max_poll_records=settings.batch_max_events,
        stream_buffer_maxsize=max(4096, 4 * settings.batch_max_events),
        stream_ack_exceptions=False,
        table_standby_replicas=settings.standby_replicas,
        worker_redirect_stdouts=False,
        key_serializer="raw",
        value_serializer="raw",
    )
    events = app.topic(*(settings.topic(t) for t in EVENT_TOPICS), schema=_raw())
    users = app.Table(
        "users",
        key_type=bytes,  # bytes types select faust's raw serializer for the store and changelog
        value_type=bytes,
        partitions=partitions,
        store=store_url("users"),  # RocksDB without its write-ahead log: the changelog is the log
        help="Per-user interest state (state.codec bytes), keyed by user id.",
    )
    return FaustParts(app=app, events=events, users=users)
