"""Shared fixtures: the real local Kafka broker (session scope) and per-test topic prefixes."""

from __future__ import annotations

import os
import socket
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from streams.kafka.topics import apply_topics, load_topic_specs
from streams.settings import DEFAULT_TOPICS_SPEC, KafkaSettings

ROOT = Path(__file__).resolve().parents[1]
KAFKA_SCRIPT = ROOT / "deploy" / "kafka" / "kafka.sh"


def _free_port_pair() -> int:
    """A port p such that p and p + 1 (the controller) are both free on 127.0.0.1."""
    for _ in range(50):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = int(s.getsockname()[1])
        if port >= 65535:
            continue
        with socket.socket() as s2:
            try:
                s2.bind(("127.0.0.1", port + 1))
            except OSError:
                continue
        return port
    raise RuntimeError("no free pair of ports on 127.0.0.1")


@pytest.fixture(scope="session")
def kafka_bootstrap(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real single-node Kafka broker on 127.0.0.1, started for this test session.

    The run fails (never skips) when the broker cannot start. ``IT_TEST_BOOTSTRAP`` points
    the tests at an already running broker instead.
    """
    external = os.environ.get("IT_TEST_BOOTSTRAP")
    if external:
        yield external
        return
    port = _free_port_pair()
    env = {
        **os.environ,
        "KAFKA_PORT": str(port),
        "KAFKA_DATA": str(tmp_path_factory.mktemp("kafka")),
    }
    up = subprocess.run(
        ["bash", str(KAFKA_SCRIPT), "up"], env=env, capture_output=True, text=True, check=False
    )
    if up.returncode != 0:
        pytest.fail(f"the local Kafka broker did not start:\n{up.stderr[-4000:]}", pytrace=False)
    try:
        yield f"127.0.0.1:{port}"
    finally:
        subprocess.run(
            ["bash", str(KAFKA_SCRIPT), "down"], env=env, check=False, capture_output=True
        )


@pytest.fixture
def kafka_settings(kafka_bootstrap: str) -> KafkaSettings:
    """Settings with a fresh topic prefix: every test gets its own topics."""
    return KafkaSettings(bootstrap=kafka_bootstrap, topic_prefix=f"t{uuid.uuid4().hex[:10]}.")


@pytest.fixture
def kafka_topics(kafka_settings: KafkaSettings) -> KafkaSettings:
    """``kafka_settings`` with the spec's topics created (4 partitions each, to keep tests fast)."""
    from confluent_kafka.admin import AdminClient

    specs = load_topic_specs(DEFAULT_TOPICS_SPEC, prefix=kafka_settings.topic_prefix, partitions=4)
    apply_topics(AdminClient(kafka_settings.client_config()), specs)
    return kafka_settings
