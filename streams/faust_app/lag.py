"""Consumer lag per assigned event partition, and table recovery progress.

A partition's lag is its end offset minus the next offset to process: after this worker's
last completed batch of it, or the group's committed offset when that is further. faust
learns a newly assigned partition's committed offset only when it seeks to it, after the
partition's tables are recovered; until then the offset is asked of the group coordinator
(:class:`CommittedLookup`, once per partition and consumer generation, by an admin client of
its own in a thread: faust's consumer and its thread are left alone), so a recovering
partition shows the events really waiting since the last commit, not its whole log (which
would fire the lag alert on a long recovery). A partition the group never committed shows
its whole log: all of it is to process.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Collection, Mapping
from typing import Any

import faust
from confluent_kafka import ConsumerGroupTopicPartitions, TopicPartition
from confluent_kafka.admin import AdminClient
from faust.types import TP

from streams.metrics import WorkerMetrics

__all__ = ["CommittedLookup", "group_committed", "lag_metrics"]

log = logging.getLogger(__name__)

Fetch = Callable[[Collection[TP]], dict[TP, int | None]]


def group_committed(
    admin: AdminClient, group: str, tps: Collection[TP], timeout_s: float = 10.0
) -> dict[TP, int | None]:
    """The committed offset of each of ``tps`` of consumer group ``group`` (``None``: never
    committed), asked of its coordinator (blocks up to ``timeout_s``; raises what fails)."""
    request = ConsumerGroupTopicPartitions(
        group, [TopicPartition(tp.topic, tp.partition) for tp in tps]
    )
    future = admin.list_consumer_group_offsets([request], request_timeout=timeout_s)[group]
    found = future.result(timeout=timeout_s).topic_partitions or []
    return {
        TP(p.topic, p.partition): p.offset if p.offset >= 0 else None
        for p in found
        if p.error is None
    }


class CommittedLookup:
    """The group's committed offsets of the partitions faust does not know one of yet,
    fetched in the background by ``fetch`` (blocking: it runs in a thread, so a timer never
    waits on the coordinator) and forgotten when the consumer generation changes (another
    worker may have committed a partition since). A failed lookup is tried again after a
    back-off (``retry_s``, doubling to ``max_retry_s``); the first failure of a generation
    is logged as a warning, the lag meanwhile counting those partitions' whole logs.
    ``clock``: monotonic seconds."""

    def __init__(
        self,
        fetch: Fetch,
        timeout_s: float = 10.0,
        retry_s: float = 5.0,
        max_retry_s: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._fetch = fetch
        self._timeout_s = timeout_s
        self._retry_s, self._max_retry_s = retry_s, max_retry_s
        self._clock = clock
        self._generation: int | None = None
        self._task: asyncio.Task[None] | None = None
        self._failures = 0
        self._not_before = 0.0
        self.offsets: dict[TP, int | None] = {}

    def request(self, generation: int, tps: Collection[TP]) -> None:
        """Look up those of ``tps`` not known for ``generation`` (one lookup at a time)."""
        if generation != self._generation:
            self._generation = generation
            self.offsets = {}
            self._failures, self._not_before = 0, 0.0
        missing = [tp for tp in tps if tp not in self.offsets]
        idle = self._task is None or self._task.done()
        if missing and idle and self._clock() >= self._not_before:
            self._task = asyncio.ensure_future(self._look_up(generation, missing))

    async def _look_up(self, generation: int, tps: list[TP]) -> None:
        try:
            loop = asyncio.get_running_loop()
            found = await asyncio.wait_for(
                loop.run_in_executor(None, self._fetch, tps), self._timeout_s
            )
        except Exception as exc:  # a rebalance, the coordinator moving, no access to the group
            self._failures += 1
            delay = min(self._max_retry_s, self._retry_s * 2 ** (self._failures - 1))
            self._not_before = self._clock() + delay
            level = logging.WARNING if self._failures == 1 else logging.DEBUG
            log.log(
                level,
                "the group's committed offsets of %d partitions are not known (%r): their lag "
                "counts their whole logs until faust seeks them; asking again in %.0f s",
                len(tps),
                exc,
                delay,
            )
            return
        if generation == self._generation:
            self.offsets.update(found)
            self._failures = 0

    async def settled(self) -> None:
        """Wait until the lookup under way, if any, has ended."""
        if self._task is not None:
            await self._task


def lag_metrics(
    app: faust.App,
    metrics: WorkerMetrics,
    positions: dict[tuple[str, int], int],
    event_topics: set[str],
    lookup: CommittedLookup | None = None,
) -> None:
    """Consumer lag per assigned event partition and table recovery progress (never raises:
    the Prometheus-sensor trap, faust #214, is end offsets unknown during a rebalance).

    ``positions``: the next offset after this worker's last completed batch of each
    partition; partitions no longer assigned leave the metric and ``positions``; the tables'
    changelogs are not consumer lag. ``lookup``: the group's committed offsets of partitions
    faust has not sought yet (asked for here, used once known)."""
    try:
        consumer = app.consumer
        assigned = {(tp.topic, tp.partition): tp for tp in consumer.assignment()}
    except Exception:  # not started / rebalancing
        return
    assigned = {key: tp for key, tp in assigned.items() if key[0] in event_topics}
    committed: Mapping[Any, int | None] = getattr(consumer, "_committed_offset", {})
    unknown = [tp for key, tp in assigned.items() if committed.get(tp) is None]
    if lookup is not None and unknown:
        lookup.request(app.consumer_generation_id, unknown)
    for key, tp in assigned.items():
        try:
            high = consumer.highwater(tp)
        except Exception:
            high = None
        if high is None:
            continue
        base = committed.get(tp)
        if base is None and lookup is not None:
            base = lookup.offsets.get(tp)
        done = max(positions.get(key, 0), base or 0)
        metrics.consumer_lag.labels(key[0], str(key[1])).set(max(0, high - done))
    for key in [k for k in positions if k not in assigned]:
        del positions[key]
    exported = {(x.labels["topic"], x.labels["partition"]) for x in _samples(metrics.consumer_lag)}
    for topic, partition in exported:
        if (topic, int(partition)) not in assigned:
            metrics.consumer_lag.remove(topic, partition)
    try:
        recovery: Any = getattr(app.tables, "recovery", None)
        metrics.recovery_remaining.set(recovery.active_remaining_total() if recovery else 0)
    except Exception:
        metrics.recovery_remaining.set(0)


def _samples(metric: Any) -> list[Any]:
    return [x for m in metric.collect() for x in m.samples]
