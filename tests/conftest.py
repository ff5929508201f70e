"""Shared fixtures: the real local Kafka broker (session scope) and per-test topic prefixes."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pytest

# Models load from local directories only (the packaged weights), in every test.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"

from streams.kafka.local import LocalKafkaError, free_port, free_port_pair, local_kafka
from streams.settings import KafkaSettings
from tests.integration.worker_proc import create_topics

if TYPE_CHECKING:
    from encoders.transformer import EncoderParts, TransformerEncoder


@pytest.fixture(scope="session")
def packaged() -> EncoderParts:
    """The packaged model's tokenizer, CPU forward and pooler (loaded once per process)."""
    from tests.contract.encoder_doubles import packaged_parts

    return packaged_parts()


@pytest.fixture(scope="session")
def real_encoder(packaged: EncoderParts) -> TransformerEncoder:
    """The real transformers encoder on CPU, shared by the session (do not mutate it)."""
    from encoders.transformer import TransformerEncoder

    return TransformerEncoder(
        tokenizer=packaged.tokenizer,
        forward=packaged.forward,
        pooler=packaged.pooler,
        model_id=packaged.model_id,
    )


SASL_USER, SASL_PASSWORD = "it", "it-secret"  # deploy/kafka/kafka.sh's defaults


@dataclass(frozen=True)
class Broker:
    bootstrap: str
    """The PLAINTEXT listener."""
    sasl_bootstrap: str | None
    """A SASL_PLAINTEXT listener (PLAIN and SCRAM, ``SASL_USER``/``SASL_PASSWORD``)."""


@pytest.fixture(scope="session")
def kafka_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Broker]:
    """A real single-node Kafka broker on 127.0.0.1, started for this test session, with a
    PLAINTEXT and a SASL_PLAINTEXT listener.

    The run fails (never skips) when the broker cannot start. ``IT_TEST_BOOTSTRAP`` points
    the tests at an already running broker instead (``IT_TEST_SASL_BOOTSTRAP``: its SASL
    listener, with the user above).
    """
    external = os.environ.get("IT_TEST_BOOTSTRAP")
    if external:
        yield Broker(external, os.environ.get("IT_TEST_SASL_BOOTSTRAP"))
        return
    with ExitStack() as stack:
        port, sasl_port = free_port_pair(), free_port()
        while sasl_port in (port, port + 1):  # the client and controller ports
            sasl_port = free_port()
        try:
            bootstrap = stack.enter_context(
                local_kafka(tmp_path_factory.mktemp("kafka"), port=port, sasl_port=sasl_port)
            )
        except LocalKafkaError as exc:
            pytest.fail(str(exc), pytrace=False)
        yield Broker(bootstrap, f"127.0.0.1:{sasl_port}")


@pytest.fixture(scope="session")
def kafka_bootstrap(kafka_broker: Broker) -> str:
    """The session broker's PLAINTEXT address."""
    return kafka_broker.bootstrap


@pytest.fixture
def kafka_sasl_settings(kafka_broker: Broker) -> KafkaSettings:
    """Settings for the session broker's SASL listener (SCRAM-SHA-256), fresh topic prefix."""
    if kafka_broker.sasl_bootstrap is None:
        pytest.skip("IT_TEST_BOOTSTRAP is set without IT_TEST_SASL_BOOTSTRAP")
    return KafkaSettings(
        bootstrap=kafka_broker.sasl_bootstrap,
        security_protocol="SASL_PLAINTEXT",
        sasl_mechanism="SCRAM-SHA-256",
        sasl_username=SASL_USER,
        sasl_password=SASL_PASSWORD,
        topic_prefix=f"t{uuid.uuid4().hex[:10]}.",
    )


@pytest.fixture
def kafka_settings(kafka_bootstrap: str) -> KafkaSettings:
    """Settings with a fresh topic prefix: every test gets its own topics."""
    return KafkaSettings(bootstrap=kafka_bootstrap, topic_prefix=f"t{uuid.uuid4().hex[:10]}.")


@pytest.fixture
def kafka_topics(kafka_settings: KafkaSettings) -> KafkaSettings:
    """``kafka_settings`` with the spec's topics created (4 partitions each, to keep tests fast)."""
    return create_topics(kafka_settings, partitions=4)
