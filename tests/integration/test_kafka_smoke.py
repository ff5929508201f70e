"""The local broker is real: confluent-kafka produces, aiokafka consumes, topics are idempotent."""

from __future__ import annotations

import asyncio
import json
import time

import pytest
from aiokafka import AIOKafkaConsumer
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient

from streams.kafka.topics import apply_topics, list_topics, load_topic_specs
from streams.settings import DEFAULT_TOPICS_SPEC, KafkaSettings

pytestmark = pytest.mark.kafka

N_EVENTS = 10_000


def test_topic_creation_is_idempotent(kafka_settings: KafkaSettings) -> None:
    admin = AdminClient(kafka_settings.client_config())
    specs = load_topic_specs(DEFAULT_TOPICS_SPEC, prefix=kafka_settings.topic_prefix)
    first = apply_topics(admin, specs)
    second = apply_topics(admin, specs)
    assert set(first.values()) == {"created"}
    assert set(second.values()) == {"exists"}
    on_cluster = list_topics(admin)
    for s in specs:
        assert on_cluster[s.name] == s.partitions


async def _consume_all(bootstrap: str, topic: str, n: int) -> list[tuple[bytes, bytes]]:
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        group_id=None,
    )
    await consumer.start()
    got: list[tuple[bytes, bytes]] = []
    try:
        async with asyncio.timeout(60):
            while len(got) < n:
                batches = await consumer.getmany(timeout_ms=1000, max_records=5000)
                for records in batches.values():
                    got.extend((r.key, r.value) for r in records)
    finally:
        await consumer.stop()
    return got


def test_10k_events_round_trip(kafka_topics: KafkaSettings) -> None:
    topic = kafka_topics.topic("events.click")
    producer = Producer(
        {**kafka_topics.client_config(), "partitioner": "murmur2_random", "linger.ms": 5}
    )
    sent: dict[str, bytes] = {}
    for i in range(N_EVENTS):
        event: dict[str, str | int] = {
            "event_id": f"e{i}",
            "user_id": f"u{i % 97}",
            "item_id": f"i{i % 1000}",
            "type": "click",
            "ts": 1_700_000_000_000 + i,
        }
        value = json.dumps(event).encode()
        sent[str(event["event_id"])] = value
        producer.produce(topic, key=str(event["user_id"]).encode(), value=value)
        if i % 1000 == 0:
            producer.poll(0)
    assert producer.flush(30) == 0

    got = asyncio.run(_consume_all(kafka_topics.bootstrap, topic, N_EVENTS))
    assert len(got) == N_EVENTS
    received = {json.loads(v)["event_id"]: (k, v) for k, v in got}
    assert received.keys() == sent.keys()
    for event_id, (key, value) in received.items():
        assert value == sent[event_id]
        assert key == json.loads(value)["user_id"].encode()


@pytest.mark.parametrize("missing", ["events.dlq", "interest-drift", "signals.checkpoints"])
def test_a_worker_refuses_to_start_without_a_topic_it_writes_or_reads(
    kafka_topics: KafkaSettings, missing: str
) -> None:
    from streams.faust_app.worker import WorkerSetupError, event_partitions
    from streams.settings import Settings

    settings = Settings(bootstrap=kafka_topics.bootstrap, topic_prefix=kafka_topics.topic_prefix)
    assert event_partitions(settings) == 4
    admin = AdminClient(kafka_topics.client_config())
    for f in admin.delete_topics([kafka_topics.topic(missing)]).values():
        f.result(30)
    deadline = time.monotonic() + 30  # the deletion reaches the metadata a moment later
    while kafka_topics.topic(missing) in admin.list_topics(timeout=10).topics:
        assert time.monotonic() < deadline, "the topic was not deleted"
        time.sleep(0.2)
    with pytest.raises(WorkerSetupError, match=f"{kafka_topics.topic(missing)} is missing"):
        event_partitions(settings)


def test_the_groups_committed_offsets_are_read_from_the_coordinator(
    kafka_topics: KafkaSettings,
) -> None:
    """What the lag metric uses while faust has not sought a partition yet: the offsets the
    group committed (here by a consumer of the group), ``None`` where it never did."""
    from confluent_kafka import Consumer, TopicPartition
    from faust.types import TP

    from streams.faust_app.lag import group_committed

    topic = kafka_topics.topic("events.view")
    group = f"{kafka_topics.topic_prefix}lag-group"
    committer = Consumer({**kafka_topics.client_config(), "group.id": group})
    try:
        committer.commit(offsets=[TopicPartition(topic, 1, 42)], asynchronous=False)
    finally:
        committer.close()
    admin = AdminClient(kafka_topics.client_config())
    got = group_committed(admin, group, [TP(topic, 0), TP(topic, 1)])
    assert got == {TP(topic, 0): None, TP(topic, 1): 42}
    assert group_committed(admin, f"{group}-never", [TP(topic, 2)]) == {TP(topic, 2): None}
