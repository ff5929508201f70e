"""One batch of events through the engine, off the event loop, with at-least-once outputs.

Order of a batch (the offsets are acked by faust only after :meth:`process_batch` returns):

1. route: records whose key is not the user id, or whose partition is not murmur2(user id),
   are republished keyed by user (repartition) instead of being processed here;
2. read the stored states of the batch's users from the table (on the loop) and hand them
   with the batch to the engine (:mod:`streams.host`: its own process by default, else a
   thread), which returns the rendered outputs and the changed states;
3. publish recommendations, drift alerts, dead letters, inline item upserts and signal
   deltas, and wait until the broker has them all (transient failures are retried; when
   retries run out the process exits without committing, so the batch is redelivered);
4. write the changed states to the table's changelog and, once the broker has them, to its
   RocksDB store, each in the context of one of the user's own events so the RocksDB
   partition is the user's partition.

A crash anywhere before the ack means redelivery; the engine's per-user offset marks make the
replay of already-applied events a no-op for user state, and outputs are at-least-once.
Signal deltas count once: each batch's records are marked with the batch, readers apply a
batch once and whole, and the deltas of redelivered events that a published batch counted
are not made again (:mod:`streams.kafka.signal_ledger`).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
import weakref
from collections import Counter, OrderedDict, deque
from collections.abc import Awaitable, Callable, Collection, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, NoReturn, TypeVar

import orjson
from aiokafka.partitioner import murmur2
from faust.streams import _current_event
from faust.types import TP

from streams.clock import Clock
from streams.core.messages import Message
from streams.core.outputs import Rejection
from streams.core.params import EngineParams
from streams.faust_app.app import FaustParts
from streams.host.calls import BatchOut
from streams.host.client import EngineClient
from streams.kafka.dlq import DeadLetter
from streams.kafka.output import OutputError, OutputProducer, OutRecord, Written
from streams.kafka.routing import utf8_key
from streams.metrics import WorkerMetrics
from streams.settings import Settings

__all__ = ["WorkerRuntime", "die"]

log = logging.getLogger(__name__)
T = TypeVar("T")
MAX_QUEUED_BATCHES = 4
_GONE = object()


@lru_cache(maxsize=1 << 17)
def _partition_of(key: bytes, partitions: int) -> int:
    """The partition Java clients, aiokafka and librdkafka's murmur2 pick for ``key``.

    Cached: aiokafka's murmur2 is pure Python (microseconds per key) and users repeat.
    """
    return int((murmur2(key) & 0x7FFFFFFF) % partitions)


@contextmanager
def _in_event(event: Any) -> Iterator[None]:
    """Act as if processing ``event``: faust's RocksDB store takes the partition of a table
    read or write from the current event (faust #497: none is set inside ``take()``)."""
    token = _current_event.set(weakref.ref(event))
    try:
        yield
    finally:
        _current_event.reset(token)


DEFAULT_EVENT_TYPES = frozenset(EngineParams().event_types)


def _user_and_type(value: bytes) -> tuple[str | None, str]:
    try:
        body = orjson.loads(value)
    except ValueError:
        try:  # what orjson refuses and the contract's full path reads (NaN, a BOM, ...)
            body = json.loads(value)
        except (ValueError, UnicodeDecodeError, RecursionError):
            return None, "invalid"
        user = body.get("user_id") if isinstance(body, dict) else None
        if isinstance(user, str) and utf8_key(user) is None:
            return None, "invalid"  # a lone surrogate: no key; the engine rejects it
    if not isinstance(body, dict):
        return None, "invalid"
    user, kind = body.get("user_id"), body.get("type")
    return (
        user if isinstance(user, str) and user else None,
        kind if isinstance(kind, str) and len(kind) <= 32 else "invalid",
    )


async def _nothing() -> None:
    return None


async def _uncancellable(coro: Awaitable[T]) -> T:
    """Await ``coro`` to the end even when cancelled (then re-raise the cancellation), so
    faust never stops the worker halfway through handing over or completing a batch."""
    task = asyncio.ensure_future(coro)
    cancelled = False
    while not task.done():
        try:
            await asyncio.shield(task)
        except asyncio.CancelledError:
            if task.done():
                break
            cancelled = True
            log.info("stop requested: finishing the batches in flight first")
    if task.exception() is not None:
        # faust would ack a batch whose body raised (and commit it): never let it.
        log.error("batch failed", exc_info=task.exception())
        die(f"unexpected error in a batch: {task.exception()!r}")
    if cancelled:
        raise asyncio.CancelledError
    return task.result()


@dataclass(eq=False)
class _Flight:
    """One batch between its hand-over to the engine and its completion."""

    events: Sequence[Any]
    messages: list[Message]
    moves: list[OutRecord]
    types: Counter[str]
    owner: dict[str, Any]  # user -> one of the user's events (its partition context)
    prefetched: dict[str, bytes]
    t0: float
    result: asyncio.Future[BatchOut] = field(init=False)
    done: asyncio.Future[None] = field(init=False)


class WorkerRuntime:
    """The worker's processing, independent of how faust delivers the batches."""

    def __init__(
        self,
        *,
        settings: Settings,
        parts: FaustParts,
        engine: EngineClient,
        metrics: WorkerMetrics,
        partitions: int,
        clock: Clock,
        output: OutputProducer,
        event_types: Collection[str] = DEFAULT_EVENT_TYPES,
    ) -> None:
        self.settings = settings
        self.event_types = frozenset(event_types)
        """The types ``interest_tracker_events_total`` names; any other claimed: ``other``."""
        metrics.known_event_types(sorted(self.event_types))
        self.output = output
        self.parts = parts
        self.engine = engine
        self.metrics = metrics
        self.partitions = partitions
        self.clock = clock
        # waits for the broker's acknowledgements, off the event loop
        self.publisher = ThreadPoolExecutor(max_workers=1, thread_name_prefix="publish")
        self.ready = asyncio.Event()
        self.batches = 0
        self.processed = 0
        self.last_batch_at = time.monotonic()  # idle time counts from the start, not the boot
        self.positions: dict[tuple[str, int], int] = {}
        self.published: OrderedDict[str, bytes] = OrderedDict()  # user -> last published
        self.dirty: set[str] = set()  # users touched since the last refresh
        self.signals_changed = False  # signal deltas applied since the last refresh
        self.last_signal_at = 0.0
        self.owned: Callable[[], set[int]] = lambda: set(range(partitions))
        # the consumer group generation, and a wait for the signals topic to be read to its
        # end: before a batch of a new generation (partitions may have moved here), the
        # deltas their previous owner published must be known (``SignalLedger``)
        self.generation: Callable[[], int] = lambda: 0
        self.sync_signals: Callable[[], Awaitable[None]] = _nothing
        self._synced_generation: int | None = None
        self._lock = asyncio.Lock()  # refreshes never overlap
        self._queued: list[Any] = []  # events waiting for the engine
        self._taken = asyncio.Event()  # set when the queue is handed to the engine
        self._engine_busy = False
        self._refreshing = False
        self._flights: deque[_Flight] = deque()  # handed to the engine, oldest first
        self._overlay: dict[str, bytes | None] = {}  # computed states not in the table yet
        self._entered = 0  # process_batch calls not returned yet
        self._work_since = time.monotonic()  # when the worker last took work while it had none

    # -- events -------------------------------------------------------------------------

    async def process_batch(self, events: Sequence[Any]) -> None:
        """Queue one batch for the engine and return (faust then collects the next one).

        Batches queued while the engine is busy go to it together, as one call, when it is
        free: each touched user is recommended once for all of them, so the busier the
        worker, the less work per event. The outputs, state writes and acks of an engine
        call follow in a completion task while the engine computes the next call.

        Each event's message gets one more reference, so the ack faust's ``take_events``
        makes when this returns is not the final one: the offsets become committable only
        when the completion acks them, after the outputs and the states are durable. Waits
        while ``MAX_QUEUED_BATCHES`` batches' worth of events are queued (back-pressure)."""
        for ev in events:  # first: whatever happens below, faust's ack is not the last
            ev.message.incref()
        if not (self.busy or self._entered):
            self._work_since = time.monotonic()
        self._entered += 1
        try:
            generation = self.generation()
            if generation != self._synced_generation:
                await self._sync_signals()
                self._synced_generation = generation
            cap = MAX_QUEUED_BATCHES * self.settings.batch_max_events
            while len(self._queued) >= cap:
                self._taken.clear()
                await self._taken.wait()
            self._queued.extend(events)
            self._kick()
        finally:
            self._entered -= 1

    async def _sync_signals(self) -> None:
        """Read the signals topic to its end (a cancellation leaves the batch unacked: it
        is fetched again)."""
        await self._retrying("reading the signals topic to its end", self.sync_signals)

    async def _retrying(
        self,
        what: str,
        call: Callable[[], Awaitable[T]],
        transient: tuple[type[Exception], ...] = (Exception,),
    ) -> T:
        """``call()``, retried with exponential back-off on ``transient`` errors; exit without
        committing when it fails ``max_batch_attempts`` times (the batch in hand is
        redelivered to the restarted worker)."""
        attempts = self.settings.max_batch_attempts
        for attempt in range(1, attempts + 1):
            try:
                return await call()
            except transient as exc:
                if attempt == attempts:
                    die(f"{what} failed {attempt} times: {exc!r}")
                self.metrics.batch_retries.inc()
                delay = min(5.0, 0.1 * 2**attempt)
                log.warning("%s failed (%r); retry %d in %.1fs", what, exc, attempt, delay)
                await asyncio.sleep(delay)
        raise AssertionError("not reached: die() exits")

    async def drain(self) -> None:
        """Wait until every queued batch is complete (outputs, states, acks)."""
        await _uncancellable(self._drain())

    async def _drain(self) -> None:
        while self._queued or self._flights:
            self._kick()
            if self._flights:
                await self._flights[-1].done
            else:  # held back by a refresh
                await asyncio.sleep(0.01)

    def _kick(self) -> None:
        """Hand everything queued to the engine if it is free, no refresh runs, and at most
        one earlier call is still completing."""
        if self._engine_busy or self._refreshing or not self._queued or len(self._flights) > 1:
            return
        try:
            events, self._queued = self._queued, []
            self._taken.set()
            flight = self._stage(events)
            before = self._flights[-1].done if self._flights else None
            self._engine_busy = True
            flight.result = asyncio.ensure_future(self._engine_step(flight))
            flight.done = asyncio.ensure_future(self._complete(flight, before))
            self._flights.append(flight)
        except Exception as exc:  # never ack what was not processed
            log.error("handing a batch to the engine failed", exc_info=exc)
            die(f"unexpected error in a batch: {exc!r}")

    def _stage(self, events: Sequence[Any]) -> _Flight:
        t0 = time.perf_counter()
        keep, moves, types = self._route(events)
        owner: dict[str, Any] = {}
        for ev in keep:
            if ev.key:
                owner[ev.key.decode("utf-8", "replace")] = ev
        messages = [
            Message(
                value=ev.value if isinstance(ev.value, bytes) else b"",
                key=ev.key,
                topic=self._logical(ev.message.topic),
                partition=ev.message.partition,
                offset=ev.message.offset,
            )
            for ev in keep
        ]
        flight = _Flight(events, messages, moves, types, owner, self._prefetch(owner), t0)
        self.metrics.batch_stage.labels("read").observe(time.perf_counter() - t0)
        return flight

    async def _engine_step(self, flight: _Flight) -> BatchOut:
        t1 = time.perf_counter()
        try:
            result = await self.engine.process(
                flight.messages, flight.prefetched, self.clock.now_ms()
            )
        finally:
            self._engine_busy = False
        # the next call's reads see these states (the table may not have them yet)
        self._overlay.update(result.changes)
        self.metrics.batch_stage.labels("engine").observe(time.perf_counter() - t1)
        self._kick()
        return result

    async def _complete(self, flight: _Flight, before: asyncio.Future[None] | None) -> None:
        try:
            await self._complete_in_order(flight, before)
        except BaseException as exc:  # never ack what did not complete
            log.error("batch failed", exc_info=exc)
            die(f"unexpected error in a batch: {exc!r}")

    async def _complete_in_order(
        self, flight: _Flight, before: asyncio.Future[None] | None
    ) -> None:
        stages = self.metrics.batch_stage
        result = await flight.result
        if before is not None:
            await before  # outputs and states leave in batch order
        t2 = time.perf_counter()
        keys = {(m.topic, m.partition, m.offset): m.key for m in flight.messages}
        await self._send(flight.moves + self._outbound(result, keys))
        t3 = time.perf_counter()
        stages.labels("publish").observe(t3 - t2)
        await self._write_states(result.changes, flight.owner)
        for user, value in result.changes.items():
            if self._overlay.get(user, _GONE) is value:  # not replaced by a later batch
                del self._overlay[user]
        stages.labels("state").observe(time.perf_counter() - t3)
        for ev in flight.events:
            tp = (ev.message.topic, ev.message.partition)
            self.positions[tp] = max(self.positions.get(tp, 0), ev.message.offset + 1)
            ev.ack()  # the final reference: the offset is committable now
        self._observe(result, flight.types, len(flight.events), time.perf_counter() - flight.t0)
        self._flights.remove(flight)
        self._kick()

    def _prefetch(self, owner: dict[str, Any]) -> dict[str, bytes]:
        """The stored states of the batch's users, each read in the context of one of the
        user's events, so the store looks in that partition only; states an earlier batch
        changed and the table does not have yet come from the overlay."""
        table = self.parts.users
        overlay = self._overlay
        out: dict[str, bytes] = {}
        for user, ev in owner.items():
            if user in overlay:
                value = overlay[user]
            else:
                with _in_event(ev):
                    value = table.get(user.encode())
            if value is not None:
                out[user] = value
        return out

    def _logical(self, topic: str) -> str:
        prefix = self.settings.topic_prefix
        return topic[len(prefix) :] if prefix and topic.startswith(prefix) else topic

    def _out(
        self,
        topic: str,
        key: bytes | None,
        value: bytes,
        headers: list[tuple[str, bytes]] | None = None,
    ) -> OutRecord:
        """A record for the logical ``topic`` (the settings add the prefix)."""
        return OutRecord(self.settings.topic(topic), key, value, None, headers)

    def _route(self, events: Sequence[Any]) -> tuple[list[Any], list[OutRecord], Counter[str]]:
        keep: list[Any] = []
        moves: list[OutRecord] = []
        types: Counter[str] = Counter()
        for ev in events:
            value = ev.value if isinstance(ev.value, bytes) else b""
            user, kind = _user_and_type(value)
            if user is not None:  # without one, the engine rejects it into the dead letters
                ukey = user.encode()
                if ev.key != ukey or _partition_of(ukey, self.partitions) != ev.message.partition:
                    moves.append(OutRecord(ev.message.topic, ukey, value))  # same topic, keyed
                    continue  # counted when it comes back
            keep.append(ev)  # counted in, as every event received (the reject rate's base)
            types[kind if kind in self.event_types else "other"] += 1
        return keep, moves, types

    def _dead_letter(self, reason: str, detail: str, m: Message) -> DeadLetter:
        return DeadLetter(
            reason=reason,
            detail=detail,
            value=m.value,
            key=m.key,
            topic=self.settings.topic(m.topic) if m.topic else "",
            partition=m.partition,
            offset=m.offset,
            rejected_at_ms=self.clock.now_ms(),
        )

    def _rejected(
        self, r: Rejection, keys: Mapping[tuple[str, int, int], bytes | None]
    ) -> DeadLetter:
        """The dead letter of ``r``, under its record's key (``keys`` by position)."""
        where = (r.topic, r.partition, r.offset)
        return self._dead_letter(r.reason, r.detail, Message(r.value, keys.get(where), *where))

    def _outbound(
        self, result: BatchOut, keys: dict[tuple[str, int, int], bytes | None]
    ) -> list[OutRecord]:
        out: list[OutRecord] = []
        for rec in result.recommendations:
            out.append(self._out("recommendations", rec.user_id.encode(), rec.body))
            self._remember(rec.user_id, rec.body)
            self.dirty.add(rec.user_id)
        out.extend(self._out("interest-drift", a.user_id.encode(), a.body) for a in result.alerts)
        letters = [self._rejected(r, keys) for r in result.rejections]
        letters += [
            self._dead_letter("processing_error", p.detail, p.message) for p in result.poison
        ]
        out.extend(self._out("events.dlq", d.key, d.to_json(), d.headers()) for d in letters)
        out.extend(self._out("items", key.encode(), body) for key, body in result.item_upserts)
        key = result.signal_key or None  # one writer's records stay in order
        out.extend(self._out("signals", key, value) for value in result.signal_records)
        return out

    async def publish_rejections(
        self,
        rejections: Sequence[Rejection],
        keys: Mapping[tuple[str, int, int], bytes | None] | None = None,
    ) -> None:
        """Dead-letter rejected items (from the catalog reader), each under its record's key
        (``keys`` by topic, partition and offset), and wait for the broker."""
        letters = [self._rejected(r, keys or {}) for r in rejections]
        await self._send(
            [self._out("events.dlq", d.key, d.to_json(), d.headers()) for d in letters]
        )
        for r in rejections:
            self.metrics.items_rejected.labels(r.reason).inc()

    # -- refresh --------------------------------------------------------------------------

    def _remember(self, user: str, body: bytes) -> None:
        self.published[user] = body
        self.published.move_to_end(user)
        while len(self.published) > self.settings.refresh_max_users:
            self.published.popitem(last=False)

    def pending_refresh(self) -> int:
        """Users waiting for a refresh (1 more when signals changed since the last one)."""
        return len(self.dirty) + int(self.signals_changed)

    async def refresh(self) -> None:
        """Republish recommendations that changed since they were published: collaborative
        signals from later events (of this worker and of the others) move them. Covers the
        users touched since the last refresh, and, when signal deltas arrived since, every
        user published recently (up to ``refresh_max_users``). Run when the worker is idle:
        with batches queued or in flight it does nothing (the next idle moment refreshes)."""
        async with self._lock:
            if self._queued or self._flights:
                return
            self._refreshing = True
            try:
                await self._refresh()
            finally:
                self._refreshing = False
                self._kick()

    async def _refresh(self) -> None:
        users = set(self.dirty)
        if self.signals_changed:
            users.update(self.published)
        self.signals_changed = False
        owned = self.owned()  # users whose partition moved away are the new owner's
        mine = [u for u in users if _partition_of(u.encode(), self.partitions) in owned]
        table = self.parts.users
        prefetched = {u: v for u in mine if (v := table.get(u.encode())) is not None}
        recs = await self.engine.recommend(prefetched, sorted(prefetched))
        changed = {r.user_id: r.body for r in recs if r.body != self.published.get(r.user_id)}
        out = [self._out("recommendations", u.encode(), b) for u, b in changed.items()]
        await self._send(out)
        for user, body in changed.items():
            self._remember(user, body)
        self.dirty.difference_update(users)
        self.metrics.recommendations.inc(len(out))
        if out:
            log.info("refreshed %d of %d recommendations", len(out), len(users))

    async def _send(self, records: list[OutRecord]) -> Written:
        """Publish ``records`` and wait for every acknowledgement, retrying the whole set (the
        duplicates a retry may make are at-least-once); exit without committing when it
        keeps failing. Waits in the publisher thread, so the event loop stays responsive."""
        if not records:
            return {}
        loop = asyncio.get_running_loop()
        return await self._retrying(
            "publishing a batch",
            lambda: loop.run_in_executor(self.publisher, self.output.send_all, records),
            (OutputError,),
        )

    async def _write_states(self, changes: dict[str, bytes | None], owner: dict[str, Any]) -> None:
        """Write the batch's changed states to the table's changelog, then, once the broker
        has them, to its RocksDB store (each in the context of one of the user's events, so
        in the user's partition), and record the changelog offsets as persisted — what
        faust's ``Table.__setitem__`` does per key, with its one-record-at-a-time send
        buffer; here the changelog records go out together and are acknowledged together.

        The store is written last: a worker that dies before the changelog has a state must
        not find it in its own store after the restart (the redelivered events would look
        applied, and the changelog, which a partition's next owner restores, would never get
        the state). Until then the next batches read these states from the overlay."""
        table = self.parts.users
        store = table.data
        changelog = table.changelog_topic.get_topic_name()
        writes: list[tuple[Any, bytes, bytes | None]] = []
        for user, value in changes.items():
            ev = owner.get(user)
            if ev is None:
                die(f"engine changed user {user!r} that is not in the batch")
            writes.append((ev, user.encode(), value))
        written = await self._send(
            [OutRecord(changelog, key, value, ev.message.partition) for ev, key, value in writes]
        )
        for ev, key, value in writes:
            with _in_event(ev):
                if value is None:
                    store.pop(key, None)
                else:
                    store[key] = value
        for (topic, partition), offset in written.items():
            if topic == changelog:
                store.set_persisted_offset(TP(topic, partition), offset)

    @property
    def busy(self) -> bool:
        """Whether events are queued for the engine or a call has not completed."""
        return bool(self._queued or self._flights)

    def stalled_for(self, now: float) -> float:
        """Seconds (to ``now``, ``time.monotonic``) the worker has held events without
        completing a batch: since the last batch completed or, when it had no work before
        these events, since they came (0 when it holds none)."""
        if not (self.busy or self._entered):
            return 0.0
        return max(0.0, now - max(self._work_since, self.last_batch_at))

    def idle_for(self) -> float:
        """Seconds since the last batch or the last applied signal deltas."""
        return time.monotonic() - max(self.last_batch_at, self.last_signal_at)

    def _observe(self, result: BatchOut, types: Counter[str], n: int, seconds: float) -> None:
        m = self.metrics
        self.batches += 1
        self.processed += n
        m.applied.inc(result.applied)
        self.last_batch_at = time.monotonic()
        m.batch_size.observe(n)
        m.batch_duration.observe(seconds)
        for event_type, count in types.items():
            m.events.labels(event_type).inc(count)
        now = self.clock.now_ms()
        m.duplicates.inc(result.duplicates)
        for r in result.rejections:
            m.rejected.labels(r.reason).inc()
        for _ in result.poison:
            m.rejected.labels("processing_error").inc()
        for rec in result.recommendations:
            m.publish_latency.observe(max(0.0, (now - rec.ts) / 1000.0))
        m.recommendations.inc(len(result.recommendations))
        for a in result.alerts:
            m.alerts.labels(a.severity).inc()


def die(why: str) -> NoReturn:
    """Stop at once without committing: the batch in flight is redelivered after a restart."""
    log.critical("%s; exiting without committing offsets", why)
    logging.shutdown()
    os._exit(70)
