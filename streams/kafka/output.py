"""``OutputProducer``: publish a batch's records with librdkafka and wait until all are acked.

The worker's outputs (recommendations, drift alerts, dead letters, item upserts, signal
deltas) and its state changelog records leave through one confluent-kafka producer: a
record costs about a microsecond to hand to librdkafka, against tens in a pure-Python client,
and a batch publishes a record per touched user twice over (recommendation and state).
:meth:`OutputProducer.send_all` produces a batch and flushes it; it returns only when every
record is acknowledged (``acks=all``, idempotent producer) and raises
:class:`OutputError` if any was not, so the caller commits input offsets only after its
outputs are durable, and retries (at-least-once) otherwise.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import cast

from confluent_kafka import KafkaError, KafkaException, Message, Producer

from streams.kafka.routing import PRODUCER_DEFAULTS

__all__ = ["OutRecord", "OutputError", "OutputProducer", "Written", "produce_blocking"]

_LIBRDKAFKA = logging.getLogger("librdkafka")  # its messages go through logging, not stderr


class OutputError(RuntimeError):
    """Some records of a batch were not acknowledged (the caller retries the batch)."""


@dataclass(frozen=True, slots=True)
class OutRecord:
    """One record: full topic name, key, value, explicit partition (``None``: by key)."""

    topic: str
    key: bytes | None
    value: bytes | None
    partition: int | None = None
    headers: list[tuple[str, bytes]] | None = None


DeliveryCallback = Callable[[KafkaError | None, Message], None]


def produce_blocking(
    producer: Producer,
    record: OutRecord,
    on_delivery: DeliveryCallback,
    deadline: float | None = None,
) -> None:
    """Hand ``record`` to librdkafka, serving deliveries while its local queue is full.

    Raises ``TimeoutError`` when the queue is still full at ``deadline`` (``time.monotonic``).
    """
    headers = cast("list[tuple[str, str | bytes | None]] | None", record.headers)
    while True:
        try:
            if record.partition is None:
                producer.produce(
                    record.topic, record.value, record.key, headers=headers, on_delivery=on_delivery
                )
            else:
                producer.produce(
                    record.topic,
                    record.value,
                    record.key,
                    record.partition,
                    headers=headers,
                    on_delivery=on_delivery,
                )
            return
        except BufferError:  # the local queue is full: let deliveries drain it
            producer.poll(0.05)
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError("producer queue full until the deadline") from None


Written = dict[tuple[str, int], int]
"""The highest acknowledged offset per ``(topic, partition)`` of one :meth:`send_all`."""


class OutputProducer:
    """A confluent-kafka producer used one batch at a time (not for concurrent callers)."""

    def __init__(self, config: Mapping[str, str | int | float | bool], linger_ms: int = 5):
        self._producer = Producer(
            {**config, **PRODUCER_DEFAULTS, "linger.ms": linger_ms, "logger": _LIBRDKAFKA}
        )
        self._written: Written = {}
        self._errors: list[KafkaError] = []

    def _delivered(self, err: KafkaError | None, msg: Message) -> None:
        if err is not None:
            self._errors.append(err)
            return
        tp = (msg.topic() or "", msg.partition() or 0)
        offset = msg.offset() or 0
        if offset > self._written.get(tp, -1):
            self._written[tp] = offset

    def send_all(self, records: Sequence[OutRecord], timeout_s: float = 60.0) -> Written:
        """Produce ``records`` and wait for every acknowledgement; the offsets written.

        Raises :class:`OutputError` when a record failed or ``timeout_s`` passed first.
        """
        self._written, self._errors = {}, []
        deadline = time.monotonic() + timeout_s
        for r in records:
            try:
                produce_blocking(self._producer, r, self._delivered, deadline)
            except TimeoutError:
                raise OutputError("producer queue full until the timeout") from None
            except KafkaException as exc:
                raise OutputError(f"cannot produce to {r.topic}: {exc}") from exc
        left = self._producer.flush(max(0.0, deadline - time.monotonic()))
        if left:
            raise OutputError(f"{left} records not acknowledged within {timeout_s:.0f}s")
        if self._errors:
            raise OutputError(f"{len(self._errors)} records failed, first: {self._errors[0]}")
        return self._written

    def close(self, timeout_s: float = 10.0) -> None:
        """Deliver what is queued (best effort)."""
        self._producer.flush(timeout_s)
