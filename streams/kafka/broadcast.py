"""Read every partition of a topic in every worker (no consumer group): the global view.

Used for the item catalog and the global collaborative signals, which each worker must see
whole even when users are spread over several workers. Reading starts at the beginning of
the topic, or at the positions :attr:`BroadcastReader.start` names (a checkpoint's);
:attr:`BroadcastReader.caught_up` is set once every partition has been read up to the end
offsets seen at start, so the worker can wait for a complete catalog before it processes
events. :attr:`BroadcastReader.after_fetch`, when set, is awaited after each fetch has been
handled, with the positions reached (what a checkpoint of the handled records covers).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition

__all__ = ["BroadcastReader", "PositionsHandler", "RecordHandler"]

log = logging.getLogger(__name__)

RecordHandler = Callable[[Sequence[ConsumerRecord[bytes, bytes]]], Awaitable[None]]
PositionsHandler = Callable[[dict[int, int]], Awaitable[None]]


class BroadcastReader:
    """Feeds batches of records of ``topic`` (all partitions, from the beginning or from
    :attr:`start`) to ``handler``.

    ``handler`` is awaited with each fetched batch, in offset order per partition; an exception
    in it stops the reader and is re-raised by :meth:`run` (the worker then stops: a global
    view with a hole in it must not be served).
    """

    def __init__(
        self,
        bootstrap: str,
        topic: str,
        handler: RecordHandler,
        *,
        max_records: int = 5000,
        client_id: str = "interest-tracker-broadcast",
        security: Mapping[str, Any] | None = None,
    ) -> None:
        self.bootstrap = bootstrap
        self.security = dict(security or {})
        """aiokafka's security arguments (:func:`streams.kafka.security.aiokafka_security`)."""
        self.topic = topic
        self.handler = handler
        self.max_records = max_records
        self.client_id = client_id
        self.caught_up = asyncio.Event()
        self.records = 0
        self.start: dict[int, int] | None = None
        """partition → the offset to start at (others: the beginning), set before
        :meth:`run`. Set (even empty), records the topic no longer holds were expected to be
        covered by what gave the positions: a start before the topic's beginning is logged
        as a loss; a start beyond its end stops the reader (the topic was re-created)."""
        self.after_fetch: PositionsHandler | None = None
        self._positions: dict[int, int] = {}
        self._ends: dict[int, int] = {}
        self._highwaters: dict[int, int] = {}
        self._consumer: AIOKafkaConsumer | None = None
        self._tps: list[TopicPartition] = []
        self._advanced = asyncio.Event()  # set after each handled fetch

    def lag(self) -> int:
        """Records between what was read and the end offsets seen at start (0 once caught up)."""
        return sum(max(0, end - self._positions.get(p, 0)) for p, end in self._ends.items())

    def live_lag(self) -> int:
        """Records known to exist that are not handled yet (from the last fetch's highwater
        marks; -1 before the first fetch)."""
        if not self._highwaters:
            return -1
        return sum(max(0, high - self._positions.get(p, 0)) for p, high in self._highwaters.items())

    async def sync(self) -> None:
        """Return once every record in the topic now (its end offsets, asked now) is handled.

        The worker calls it before processing partitions it was just given, so that what
        their previous owner published (e.g. signal deltas just before it died) is known."""
        await self.caught_up.wait()
        consumer = self._consumer
        if consumer is None:
            raise RuntimeError(f"the {self.topic} reader is not running")
        ends = {tp.partition: off for tp, off in (await consumer.end_offsets(self._tps)).items()}
        while any(self._positions.get(p, 0) < end for p, end in ends.items()):
            self._advanced.clear()
            await self._advanced.wait()

    async def run(self) -> None:
        """Read until cancelled."""
        consumer = AIOKafkaConsumer(
            self.topic,  # no group: every partition is assigned to this consumer
            bootstrap_servers=self.bootstrap,
            group_id=None,
            enable_auto_commit=False,
            client_id=self.client_id,
            auto_offset_reset="earliest",
            **self.security,
        )
        await consumer.start()
        try:
            tps = await self._assignment(consumer)
            self._consumer, self._tps = consumer, tps
            await consumer.seek_to_beginning(*tps)
            await self._seek_to_start(consumer, tps)
            ends = await consumer.end_offsets(tps)
            self._ends = {tp.partition: off for tp, off in ends.items()}
            self._check_caught_up()
            while True:
                batches = await consumer.getmany(timeout_ms=200, max_records=self.max_records)
                for records in batches.values():
                    if records:
                        await self.handler(records)
                        self.records += len(records)
                for tp in tps:  # the position skips compaction gaps, unlike the last offset
                    self._positions[tp.partition] = await consumer.position(tp)
                    high = consumer.highwater(tp)
                    self._highwaters[tp.partition] = (
                        high if high is not None else self._ends.get(tp.partition, 0)
                    )
                self._check_caught_up()
                self._advanced.set()
                if self.after_fetch is not None:
                    await self.after_fetch(dict(self._positions))
        finally:
            self._consumer = None
            await consumer.stop()

    async def _seek_to_start(self, consumer: AIOKafkaConsumer, tps: list[TopicPartition]) -> None:
        """Seek to :attr:`start`; a start before what the topic still holds reads from its
        beginning, and the records in between are lost (logged)."""
        if self.start is None:
            return
        firsts = await consumer.beginning_offsets(tps)
        ends = await consumer.end_offsets(tps)
        for tp in tps:
            first = firsts[tp]
            at = self.start.get(tp.partition, 0)
            if at > ends[tp]:
                raise RuntimeError(
                    f"{self.topic} partition {tp.partition} ends at {ends[tp]}, before the "
                    f"start {at}: the topic was re-created; delete the checkpoints too"
                )
            if at < first:
                log.warning(
                    "%s partition %d: starting at %d, but the topic begins at %d now "
                    "(deleted by retention): %d records are lost",
                    self.topic,
                    tp.partition,
                    at,
                    first,
                    first - at,
                )
                at = first
            consumer.seek(tp, at)
            self._positions[tp.partition] = at

    async def _assignment(self, consumer: AIOKafkaConsumer) -> list[TopicPartition]:
        for _ in range(300):
            tps = sorted(consumer.assignment())
            if tps:
                return tps
            await asyncio.sleep(0.1)
        raise RuntimeError(f"topic {self.topic} does not exist; run `topics create` first")

    def _check_caught_up(self) -> None:
        if not self.caught_up.is_set() and self.lag() == 0:
            log.info("read %s to its end at start (%d records)", self.topic, self.records)
            self.caught_up.set()
