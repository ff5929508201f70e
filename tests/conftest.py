"""Shared fixtures: the real local Kafka broker (session scope) and per-test topic prefixes."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from typing import TYPE_CHECKING

import pytest

# Models load from local directories only (the packaged weights), in every test.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"

from streams.kafka.local import LocalKafkaError, local_kafka
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
    with ExitStack() as stack:
        try:
            bootstrap = stack.enter_context(local_kafka(tmp_path_factory.mktemp("kafka")))
        except LocalKafkaError as exc:
            pytest.fail(str(exc), pytrace=False)
        yield bootstrap


@pytest.fixture
def kafka_settings(kafka_bootstrap: str) -> KafkaSettings:
    """Settings with a fresh topic prefix: every test gets its own topics."""
    return KafkaSettings(bootstrap=kafka_bootstrap, topic_prefix=f"t{uuid.uuid4().hex[:10]}.")


@pytest.fixture
def kafka_topics(kafka_settings: KafkaSettings) -> KafkaSettings:
    """``kafka_settings`` with the spec's topics created (4 partitions each, to keep tests fast)."""
    return create_topics(kafka_settings, partitions=4)
