"""faust's aiokafka transport, with the worker consumer's fetch wait and size as settings,
and an App that joins the consumer group only once the worker is loaded.

faust-streaming 0.15.3 builds its worker consumer with ``fetch_max_wait_ms=1500``, not a
setting. Measured with ``bench/pipeline.py`` at 4.7k events/s (half the worker's throughput,
100k items): events reached the worker in bursts about every 1.8 s, each already 0.2–1 s old
(the oldest 2–2.6 s); with 100 ms the p50 latency went from 1,661 to 329 ms and the p99 from
3,117 to 971 ms, throughput unchanged (9.5k events/s). An idle worker sends about ten fetch
requests a second instead of one.

It also sets the consumer's ``fetch_min_bytes`` (aiokafka: 1): with 1, a fetch returns as
soon as the broker has any new record, so a steady stream produced in small requests is
fetched hundreds of times a second (at 2k events/s the worker process used 0.34–0.37 cores
against 0.23–0.24 with 64 KiB; ``docs/operations.md``, Sizing). A backlog is fetched at once
either way; ``fetch_max_wait_ms`` bounds the wait for a quiet stream.

Both values are set on the ``AIOKafkaConsumer`` before it starts (aiokafka 0.14.0 hands
``_fetch_max_wait_ms`` and ``_fetch_min_bytes`` to its fetcher in ``start()``); both versions
are pinned, and a unit test checks that the consumer faust builds carries them.

The consumer also hands each fetched record set to the streams under one ``wait_first``
instead of one per record: faust's ``Consumer._drain_messages`` races every record's delivery
against ``suspend_flow`` (a rebalance) with ``mode.Service.wait_first``, which makes four
tasks, an ``asyncio.wait`` and three cancellations per record. :meth:`_Consumer._drain_messages`
keeps faust's per-record steps (read offsets, gaps, ``commit_every``, the delivery callback)
and its interruptibility.

The :class:`App` awaits ``before_consuming`` (the worker's start-up: the catalog and the
signals loaded) before it starts its consumer, producer, tables and agents: the worker joins
the group only when it can process, so a starting worker never holds partitions meanwhile.
faust starts the consumer first and the app's tasks only after the table recovery; a worker
loading its catalog in a task held its partitions for the whole load, and worse: once the
events waiting for it filled faust's stream buffer, the delivery blocked, the consumer
stopped polling, and after ``broker_max_poll_interval`` (``IT_CONSUMER_MAX_POLL_INTERVAL_S``)
aiokafka 0.14.0 left the group and never joined again (it rejoins only after a poll, and
faust polls only after a new assignment: aiokafka #1187, faust #517). A worker whose
start-up outlasted the interval (a cold catalog: 25 minutes at 100k items on the 2-core VM)
sat "ok" in its health endpoint and processed nothing, for good.

A worker that waits for an assignment, or has no active partition (a spare: more workers
than partitions), counts as polling (``_Consumer._wait_next_records``): faust does not ask
aiokafka for records then, whose poll clock would expire after the max poll interval, leave
the group and never rejoin (aiokafka #1187). A spare could never take over a partition, and
a worker whose batch stalled past the interval (faust's buffer full, the consumer not
polling: aiokafka leaves) waited for an assignment for good. A worker whose partitions are
out of the fetch for full stream buffers counts as polling only while its agent makes
progress (``App.progressing``), so a stalled one still leaves.

It also delivers nothing while the app is rebalancing, and seeks back to what it did not
deliver. faust 0.15.3 resumes the assigned partitions, then seeks them to the committed
offsets, then resumes flow control, which clears every stream buffer, then ends the
rebalance. Records fetched and delivered in between were cleared unprocessed while the read
offset had moved past them (the seek's own update of the read offsets, computed before,
lands after the delivery: the next record then looks like a gap of the log, and faust
commits gaps as acknowledged). A second worker joining a busy one lost a few events this way
in 6 of 11 runs of the in-flight rebalance test (the scenario of
``test_a_worker_joining_mid_stream_takes_partitions_with_their_state``; a debug log showed
records 51..58 delivered, the read offset then reset to 51, the next fetch at 59, a gap
52..59 committed); with this rule, 0 of 4 runs (and the test itself) lost any.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, cast

import aiokafka
import faust
from faust.transport.consumer import CONSUMER_FETCHING
from faust.transport.drivers import aiokafka as driver
from faust.types import TP, Message

__all__ = ["App", "Transport"]


class _ConsumerThread(driver.AIOKafkaConsumerThread):
    def _create_worker_consumer(self, transport: driver.Transport) -> aiokafka.AIOKafkaConsumer:
        consumer = super()._create_worker_consumer(transport)
        consumer._fetch_max_wait_ms = self.app.fetch_max_wait_ms  # type: ignore[attr-defined]
        consumer._fetch_min_bytes = self.app.fetch_min_bytes  # type: ignore[attr-defined]
        return consumer

    async def mark_polled(self) -> None:
        """Tell aiokafka the application polled (its poll-interval clock, in this thread)."""
        count_a_poll(self._ensure_consumer())


def count_a_poll(consumer: aiokafka.AIOKafkaConsumer) -> None:
    """Reset ``consumer``'s poll-interval clock as a ``getmany`` does (aiokafka 0.14.0: its
    ``fetcher_idle_time``), unless it is closed."""
    if not consumer._closed:
        with consumer._subscription.fetch_context():
            pass


class _Consumer(driver.Consumer):
    mark_every_s = 1.0  # while faust waits for an assignment, a poll for aiokafka this often
    _revoking = False

    def _new_consumer_thread(self) -> driver.AIOKafkaConsumerThread:
        return _ConsumerThread(self, loop=self.loop, beacon=self.beacon)

    async def on_partitions_revoked(self, revoked: set[TP]) -> None:
        self._revoking = True  # faust's revocation waits for the events in hand meanwhile
        try:
            await super().on_partitions_revoked(revoked)
        finally:
            self._revoking = False

    async def _wait_next_records(self, timeout: float) -> tuple[Any, set[TP] | None]:
        """faust's wait for records, counting as polling for aiokafka while faust does not
        ask it for records but is ready to: aiokafka's clock would otherwise expire after
        the max poll interval, leave the group and never rejoin (aiokafka #1187).

        - While flow is suspended (a rebalance, or a leave after a stall), faust waits for
          a new assignment, which aiokafka gives only after a poll: a worker whose batch
          stalled past the interval sat out of the group for good. Each second of that
          wait counts as a poll, except during the revocation (which waits for the events
          in hand: a stalled batch keeps the worker out until it completes, as a stalled
          ``poll`` loop would).
        - With no active partition (a spare: more workers than partitions), faust sleeps
          instead of asking aiokafka: a spare could never take over a partition. When the
          partitions are out of the fetch because their stream buffers are full, only
          while the app makes progress (``App.progressing``): a worker whose batch stalls
          leaves the group after the interval (its partitions go to the other workers)."""
        while not self.flow_active and not self.should_stop:
            await self.wait(self.can_resume_flow.wait(), timeout=self.mark_every_s)
            if not (self.flow_active or self.should_stop or self._revoking):
                await self._mark_polled()
        records, active = await super()._wait_next_records(timeout)
        if (
            active is not None
            and not active
            and (not self._buffered_partitions or cast(App, self.app).progressing())
            and self.flow_active
            and not self.should_stop
        ):
            await self._mark_polled()
        return records, active

    async def _mark_polled(self) -> None:
        thread = cast(_ConsumerThread, self._thread)
        await thread.call_thread(thread.mark_polled)

    async def _drain_messages(self, fetcher: Any) -> None:  # pragma: no cover - needs a broker
        """faust 0.15.3's loop, delivering each fetched set as one interruptible task."""
        consumer_should_stop = self._stopped.is_set
        fetcher_should_stop = fetcher._stopped.is_set
        try:
            while not (consumer_should_stop() or fetcher_should_stop()):
                self.diag.set_flag(CONSUMER_FETCHING)
                fetched = [pair async for pair in self.getmany(timeout=1.0)]
                await self.sleep(0)
                if fetched and not self.should_stop:
                    await self.wait_first(self._deliver(fetched), self.suspend_flow.wait())
                self.diag.unset_flag(CONSUMER_FETCHING)
        except self.consumer_stopped_errors:
            if self.transport.app.should_stop:
                self.log.info("Broker stopped consumer, shutting down...")
                return
            raise
        except asyncio.CancelledError:
            if self.transport.app.should_stop:
                self.log.info("Consumer shutting down for user cancel.")
                return
            raise
        except Exception as exc:
            self.log.exception("Drain messages raised: %r", exc)
            raise
        finally:
            self.diag.unset_flag(CONSUMER_FETCHING)

    async def _deliver(self, fetched: Sequence[tuple[TP, Message]]) -> None:
        """faust's per-record steps for one fetched set, in order; stops at a rebalance.

        While the app rebalances, records of the source topics (those faust commits) are
        held back and their partitions sought back to them; changelog records (a table
        recovery reads them during the rebalance) are delivered."""
        callback = self.callback
        read_offset = self._read_offset
        commit_every = self._commit_every
        app = self.app
        acks_enabled_for = app.topics.acks_enabled_for
        generation = app.consumer_generation_id
        held: dict[TP, int] = {}  # partition -> its first record held back
        for i, (tp, message) in enumerate(fetched):
            if not self.flow_active or app.consumer_generation_id != generation:
                await self._rewind(held, fetched[i:])  # fetched again after the rebalance
                return
            if i and not i % 100:
                await asyncio.sleep(0)  # faust's yield_every
            if tp in held or (app.rebalancing and acks_enabled_for(message.topic)):
                held.setdefault(tp, message.offset)
                continue
            offset = message.offset
            r_offset = read_offset[tp]
            if r_offset is not None and offset < r_offset:
                continue  # faust drops what it has read already
            if r_offset and offset - r_offset > 1 and acks_enabled_for(message.topic):
                await self._add_gap(tp, r_offset + 1, offset)
            if commit_every is not None and self._n_acked >= commit_every:
                self._n_acked = 0
                await self.commit()
            await callback(message)
            read_offset[tp] = offset
        if held:
            await self._rewind(held, ())

    async def _rewind(self, held: dict[TP, int], rest: Sequence[tuple[TP, Message]]) -> None:
        """Seek each partition still assigned back to its first record not delivered
        (``held``, else in ``rest``), and its read offset with it, so those records are
        fetched and delivered again."""
        first = dict(held)
        for tp, message in rest:
            first.setdefault(tp, message.offset)
        try:
            assigned = self.assignment()
        except Exception:  # not assigned at all (stopping): nothing to rewind
            return
        for tp, offset in first.items():
            if tp in assigned:
                await self.seek(tp, offset)


class Transport(driver.Transport):
    """The aiokafka transport whose worker consumer fetches as ``app`` says (wait, size)."""

    Consumer = _Consumer


class App(faust.App):
    """A faust App on :class:`Transport`: ``fetch_max_wait_ms`` is how long the broker may
    hold a fetch of the event topics and changelogs while it has fewer than
    ``fetch_min_bytes`` of new records (both from the settings, which hold the defaults).

    ``before_consuming``, when set, is awaited at the start before the consumer and the rest
    of faust start (a stop meanwhile ends the wait; an exception stops the start); what it
    must keep running it starts with :meth:`add_future`. ``consuming`` is set once faust has
    started: in the group, its first assignment's tables recovered. ``progressing`` says
    whether the agents complete their work (see ``_Consumer._wait_next_records``)."""

    def __init__(
        self, *args: Any, fetch_max_wait_ms: int, fetch_min_bytes: int, **kwargs: Any
    ) -> None:
        self.fetch_max_wait_ms = fetch_max_wait_ms
        self.fetch_min_bytes = fetch_min_bytes
        self.before_consuming: Callable[[], Awaitable[None]] | None = None
        self.progressing: Callable[[], bool] = lambda: True
        self.consuming = asyncio.Event()
        super().__init__(*args, **kwargs)

    async def on_start(self) -> None:
        await super().on_start()
        if self.before_consuming is not None:
            await self.wait(self.before_consuming())

    async def on_started(self) -> None:
        await super().on_started()  # returns once the tables are recovered (or on a stop)
        if not self.should_stop:
            self.consuming.set()

    async def on_stop(self) -> None:
        self.consuming.clear()
        await super().on_stop()

    def _new_transport(self) -> Transport:
        return Transport(self.conf.broker_consumer, self)
