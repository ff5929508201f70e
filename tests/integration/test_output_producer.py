"""The worker's output producer on the real broker: acknowledged offsets, failures raised."""

from __future__ import annotations

import uuid

import pytest
from confluent_kafka import Consumer, TopicPartition

from streams.kafka.output import OutputError, OutputProducer, OutRecord
from streams.settings import KafkaSettings

pytestmark = pytest.mark.kafka


def _read(settings: KafkaSettings, topic: str, partition: int, n: int) -> list[tuple[bytes, bytes]]:
    consumer = Consumer({**settings.client_config(), "group.id": f"out-{uuid.uuid4().hex[:6]}"})
    consumer.assign([TopicPartition(topic, partition, 0)])
    got: list[tuple[bytes, bytes]] = []
    try:
        for _ in range(60):
            msgs = consumer.consume(1000, timeout=0.5)
            got.extend((m.key() or b"", m.value() or b"") for m in msgs if m.error() is None)
            if len(got) >= n:
                break
    finally:
        consumer.close()
    return got


def test_send_all_returns_the_acknowledged_offsets(kafka_topics: KafkaSettings) -> None:
    out = OutputProducer(kafka_topics.client_config())
    topic = kafka_topics.topic("recommendations")
    records = [OutRecord(topic, f"u{i}".encode(), f"v{i}".encode(), 2) for i in range(500)]
    written = out.send_all(records)
    assert written == {(topic, 2): 499}
    again = out.send_all(records[:10])  # offsets keep counting: nothing is overwritten
    assert again == {(topic, 2): 509}
    got = _read(kafka_topics, topic, 2, 510)
    assert got[:500] == [(r.key, r.value) for r in records]
    keyed = out.send_all([OutRecord(topic, b"same-user", b"x", headers=[("h", b"1")])] * 3)
    assert len(keyed) == 1  # one key: one partition, chosen by murmur2
    out.close()


def test_a_record_the_broker_cannot_take_raises(kafka_topics: KafkaSettings) -> None:
    out = OutputProducer(kafka_topics.client_config())
    topic = kafka_topics.topic("recommendations")
    with pytest.raises(OutputError):
        out.send_all([OutRecord(topic, b"k", b"x" * 2_000_000)])  # > message.max.bytes
    assert out.send_all([OutRecord(topic, b"k", b"ok", 0)]) == {(topic, 0): 0}


def test_an_unreachable_broker_raises_after_the_timeout() -> None:
    out = OutputProducer({"bootstrap.servers": "127.0.0.1:1"})
    with pytest.raises(OutputError, match="not acknowledged"):
        out.send_all([OutRecord("nowhere", b"k", b"v")], timeout_s=1.0)
