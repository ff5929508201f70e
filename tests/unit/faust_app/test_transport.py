"""The worker's faust App builds its consumer with the configured fetch wait."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from streams.faust_app.app import build_faust
from streams.faust_app.transport import Transport
from streams.settings import Settings


def test_the_worker_consumer_gets_the_configured_fetch_wait(tmp_path: Path) -> None:
    settings = Settings(state_dir=tmp_path, consumer_fetch_max_wait_ms=42)

    async def build() -> int:
        app = build_faust(settings, partitions=4).app
        assert isinstance(app.transport, Transport)
        worker_consumer: Any = app.consumer  # faust's aiokafka Consumer, with its thread
        thread = worker_consumer._thread
        consumer = thread._create_worker_consumer(app.transport)
        wait: int = consumer._fetch_max_wait_ms
        await consumer.stop()  # never started: releases the client it made
        return wait

    assert asyncio.run(build()) == 42
