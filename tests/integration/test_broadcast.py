"""BroadcastReader on the real broker: starting at given positions, and what it says when
the topic no longer holds them (retention) or ends before them (re-created)."""

from __future__ import annotations

import asyncio
import logging

import pytest
from aiokafka import ConsumerRecord
from confluent_kafka import Producer, TopicPartition
from confluent_kafka.admin import AdminClient

from streams.kafka.broadcast import BroadcastReader
from streams.settings import KafkaSettings

pytestmark = pytest.mark.kafka


def _fill(settings: KafkaSettings, n: int) -> str:
    """``n`` records in partition 0 of the ``signals`` topic; its first 5 deleted."""
    topic = settings.topic("signals")
    producer = Producer(settings.client_config())
    for i in range(n):
        producer.produce(topic, value=str(i).encode(), partition=0)
    assert producer.flush(30) == 0
    admin = AdminClient(settings.client_config())
    for f in admin.delete_records([TopicPartition(topic, 0, 5)]).values():
        f.result(timeout=30)
    return topic


async def _read(settings: KafkaSettings, topic: str, start: dict[int, int] | None) -> list[int]:
    got: list[int] = []
    positions: list[dict[int, int]] = []

    async def handle(records: list[ConsumerRecord[bytes, bytes]]) -> None:
        got.extend(int(r.value or b"-1") for r in records if r.partition == 0)

    async def after(p: dict[int, int]) -> None:
        positions.append(p)

    reader = BroadcastReader(settings.bootstrap, topic, handle)  # type: ignore[arg-type]
    reader.start = start
    reader.after_fetch = after
    task = asyncio.create_task(reader.run())
    try:
        async with asyncio.timeout(60):
            await reader.caught_up.wait()
            await reader.sync()
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert positions[-1][0] == 12  # what after_fetch saw: the end, once everything is handled
    return got


def test_a_start_position_is_where_reading_begins(
    kafka_topics: KafkaSettings, caplog: pytest.LogCaptureFixture
) -> None:
    topic = _fill(kafka_topics, 12)
    with caplog.at_level(logging.WARNING, logger="streams.kafka.broadcast"):
        assert asyncio.run(_read(kafka_topics, topic, {0: 8})) == [8, 9, 10, 11]
        assert "lost" not in caplog.text
        # the topic begins at 5 now: a start before it reads from there and says so
        assert asyncio.run(_read(kafka_topics, topic, {0: 2})) == list(range(5, 12))
        assert "starting at 2, but the topic begins at 5" in caplog.text
        assert "3 records are lost" in caplog.text
        caplog.clear()
        assert asyncio.run(_read(kafka_topics, topic, None)) == list(range(5, 12))
        assert "lost" not in caplog.text  # no start given: nothing was expected before


def test_a_start_beyond_the_end_stops_the_reader(kafka_topics: KafkaSettings) -> None:
    topic = _fill(kafka_topics, 12)

    async def handle(records: list[ConsumerRecord[bytes, bytes]]) -> None:
        pass

    reader = BroadcastReader(kafka_topics.bootstrap, topic, handle)  # type: ignore[arg-type]
    reader.start = {0: 40}
    with pytest.raises(RuntimeError, match="re-created"):
        asyncio.run(asyncio.wait_for(reader.run(), 60))
