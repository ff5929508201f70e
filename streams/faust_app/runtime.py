"""One batch of events through the engine, off the event loop, with at-least-once outputs.

Order of a batch (the offsets are acked by faust only after :meth:`process_batch` returns):

1. route: records whose key is not the user id, or whose partition is not murmur2(user id),
   are republished keyed by user (repartition) instead of being processed here;
2. stage the batch's user states from the table (on the loop), run ``engine.process`` in the
   single engine thread (the encoder's forward pass never blocks the loop);
3. publish recommendations, drift alerts, dead letters, inline item upserts and signal
   deltas, and wait until the broker has them all (transient failures are retried; when
   retries run out the process exits without committing, so the batch is redelivered);
4. write the changed states into the table (changelog), each in the context of one of the
   user's own events so the RocksDB partition is the user's partition, and flush.

A crash anywhere before the ack means redelivery; the engine's per-user offset marks make the
replay of already-applied events a no-op for user state, and outputs are at-least-once.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
import weakref
from collections import Counter, OrderedDict
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from functools import lru_cache
from typing import Any, TypeVar

import orjson
from aiokafka.partitioner import murmur2
from faust.streams import _current_event
from faust.types import TP

from state.store import CodecUserStore
from streams.clock import Clock
from streams.core.engine import BatchResult, Engine
from streams.core.messages import Message
from streams.faust_app.app import FaustParts
from streams.faust_app.staging import BatchStage, StageProxy
from streams.kafka.dlq import DeadLetter
from streams.kafka.output import OutputError, OutputProducer, OutRecord, Written
from streams.kafka.signals_codec import encode_deltas, split_deltas
from streams.metrics import WorkerMetrics
from streams.settings import Settings

__all__ = ["WorkerRuntime"]

log = logging.getLogger(__name__)
T = TypeVar("T")
MAX_PAIRS_PER_RECORD = 100_000


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


def _user_and_type(value: bytes) -> tuple[str | None, str]:
    try:
        body = orjson.loads(value)
    except ValueError:
        try:  # what orjson refuses and the contract's full path reads (NaN, a BOM, ...)
            body = json.loads(value)
        except (ValueError, UnicodeDecodeError, RecursionError):
            return None, "invalid"
    if not isinstance(body, dict):
        return None, "invalid"
    user, kind = body.get("user_id"), body.get("type")
    return (
        user if isinstance(user, str) and user else None,
        kind if isinstance(kind, str) and len(kind) <= 32 else "invalid",
    )


class WorkerRuntime:
    """The worker's processing, independent of how faust delivers the batches."""

    def __init__(
        self,
        *,
        settings: Settings,
        parts: FaustParts,
        engine: Engine,
        proxy: StageProxy,
        metrics: WorkerMetrics,
        partitions: int,
        clock: Clock,
        output: OutputProducer,
    ) -> None:
        self.settings = settings
        self.output = output
        self.parts = parts
        self.engine = engine
        self.proxy = proxy
        self.metrics = metrics
        self.partitions = partitions
        self.clock = clock
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="engine")
        self.ready = asyncio.Event()
        self.batches = 0
        self.processed = 0
        self.last_batch_at = 0.0
        self.positions: dict[tuple[str, int], int] = {}
        self.published: OrderedDict[str, bytes] = OrderedDict()  # user -> last published
        self.dirty: set[str] = set()  # users touched since the last refresh
        self.signals_changed = False  # signal deltas applied since the last refresh
        self.last_signal_at = 0.0
        self.owned: Callable[[], set[int]] = lambda: set(range(partitions))
        self._poison: list[DeadLetter] = []
        self._lock = asyncio.Lock()  # batches and refreshes never interleave

    @staticmethod
    def user_store(proxy: StageProxy, cache_users: int = 0) -> CodecUserStore:
        """The engine's user store: codec bytes in the stage of the batch in flight, and up to
        ``cache_users`` decoded states of earlier batches (served while their bytes match)."""
        return CodecUserStore(proxy, cache_size=cache_users)

    async def in_engine(self, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn(*args)`` in the engine thread (all engine calls are serialised there)."""
        return await asyncio.get_running_loop().run_in_executor(self.executor, fn, *args)

    # -- events -------------------------------------------------------------------------

    async def process_batch(self, events: Sequence[Any]) -> None:
        """Process one batch completely; a cancellation waits for the batch to finish first,
        so faust never acks a half-done batch on shutdown."""
        task = asyncio.ensure_future(self._process_batch(events))
        cancelled = False
        while not task.done():
            try:
                await asyncio.shield(task)
            except asyncio.CancelledError:
                if task.done():
                    break
                cancelled = True
                log.info("stop requested: finishing the batch in flight first")
        if task.exception() is not None:
            # faust would ack a batch whose body raised (and commit it): never let it.
            log.error("batch failed", exc_info=task.exception())
            self._die(f"unexpected error in a batch: {task.exception()!r}")
        if cancelled:
            raise asyncio.CancelledError

    async def _process_batch(self, events: Sequence[Any]) -> None:
        async with self._lock:
            await self._process_batch_locked(events)

    async def _process_batch_locked(self, events: Sequence[Any]) -> None:
        t0 = time.perf_counter()
        stages = self.metrics.batch_stage
        keep, moves, types = self._route(events)
        owner: dict[str, Any] = {}
        for ev in keep:
            if ev.key:
                owner[ev.key.decode("utf-8", "replace")] = ev
        prefetched = self._prefetch(owner)
        stage = BatchStage(prefetched)
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
        keys = {(m.topic, m.partition, m.offset): m.key for m in messages}
        t1 = time.perf_counter()
        stages.labels("read").observe(t1 - t0)
        results = await self.in_engine(self._run_engine, stage, messages, prefetched)
        t2 = time.perf_counter()
        stages.labels("engine").observe(t2 - t1)
        out = list(moves)
        for result in results:
            out += self._outbound(result, keys)
        await self._send(out)
        t3 = time.perf_counter()
        stages.labels("publish").observe(t3 - t2)
        await self._write_states(stage.changes(), owner)
        stages.labels("state").observe(time.perf_counter() - t3)
        for ev in events:
            tp = (ev.message.topic, ev.message.partition)
            self.positions[tp] = max(self.positions.get(tp, 0), ev.message.offset + 1)
        self._observe(results, types, len(events), time.perf_counter() - t0)

    def _prefetch(self, owner: dict[str, Any]) -> dict[str, bytes]:
        """The stored states of the batch's users, each read in the context of one of the
        user's events, so the store looks in that partition only."""
        table = self.parts.users
        out: dict[str, bytes] = {}
        for user, ev in owner.items():
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
            key = ev.key
            if user is None:
                keep.append(ev)  # the engine rejects it into the dead-letter topic
                continue
            ukey = user.encode()
            if key == ukey and _partition_of(ukey, self.partitions) == ev.message.partition:
                keep.append(ev)
                types[kind] += 1
            else:
                moves.append(OutRecord(ev.message.topic, ukey, value))  # same topic, keyed
        return keep, moves, types

    def _run_engine(
        self, stage: BatchStage, messages: list[Message], prefetched: dict[str, bytes]
    ) -> list[BatchResult]:
        """In the engine thread. If the batch raises, each message is retried alone and the
        ones that still raise become ``processing_error`` dead letters (poison messages)."""
        self.proxy.stage = stage
        now = self.clock.now_ms()
        try:
            return [self.engine.process(messages, now_ms=now)]
        except Exception:
            log.exception("engine failed on a batch of %d; retrying one by one", len(messages))
        stage.reset(prefetched)
        results: list[BatchResult] = []
        for m in messages:
            try:
                results.append(self.engine.process([m], now_ms=now))
            except Exception as exc:
                log.exception("poison message %s/%d@%d", m.topic, m.partition, m.offset)
                self._poison.append(self._dead_letter("processing_error", repr(exc), m))
        return results

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

    def _outbound(
        self, result: BatchResult, keys: dict[tuple[str, int, int], bytes | None]
    ) -> list[OutRecord]:
        out: list[OutRecord] = []
        for rec in result.recommendations:
            body = rec.to_json()
            out.append(self._out("recommendations", rec.user_id.encode(), body))
            self._remember(rec.user_id, body)
            self.dirty.add(rec.user_id)
        out.extend(
            self._out("interest-drift", a.user_id.encode(), a.to_json()) for a in result.alerts
        )
        letters = [
            self._dead_letter(
                r.reason,
                r.detail,
                Message(
                    r.value,
                    keys.get((r.topic, r.partition, r.offset)),
                    r.topic,
                    r.partition,
                    r.offset,
                ),
            )
            for r in result.rejections
        ]
        letters += self._poison
        out.extend(self._out("events.dlq", d.key, d.to_json(), d.headers()) for d in letters)
        out.extend(
            self._out("items", it.item_id.encode(), it.to_json()) for it in result.item_upserts
        )
        if len(result.signal_deltas):
            parts = split_deltas(result.signal_deltas, MAX_PAIRS_PER_RECORD)
            out.extend(self._out("signals", None, encode_deltas(p)) for p in parts)
        return out

    async def publish_rejections(self, rejections: Sequence[Any]) -> None:
        """Dead-letter rejected items (from the catalog reader) and wait for the broker."""
        letters = [
            self._dead_letter(
                r.reason, r.detail, Message(r.value, None, r.topic, r.partition, r.offset)
            )
            for r in rejections
        ]
        await self._send(
            [self._out("events.dlq", d.key, d.to_json(), d.headers()) for d in letters]
        )
        for r in rejections:
            self.metrics.rejected.labels(r.reason).inc()

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
        user published recently (up to ``refresh_max_users``). Run when the worker is idle."""
        async with self._lock:
            users = set(self.dirty)
            if self.signals_changed:
                users.update(self.published)
            self.signals_changed = False
            owned = self.owned()  # users whose partition moved away are the new owner's
            mine = [u for u in users if _partition_of(u.encode(), self.partitions) in owned]
            table = self.parts.users
            prefetched = {u: v for u in mine if (v := table.get(u.encode())) is not None}
            stage = BatchStage(prefetched)
            recs = await self.in_engine(self._recommend, stage, sorted(prefetched))
            changed = {}
            for rec in recs:
                body = rec.to_json()
                if body != self.published.get(rec.user_id):
                    changed[rec.user_id] = body
            out = [self._out("recommendations", u.encode(), b) for u, b in changed.items()]
            await self._send(out)
            for user, body in changed.items():
                self._remember(user, body)
            self.dirty.difference_update(users)
            self.metrics.recommendations.inc(len(out))
            if out:
                log.info("refreshed %d of %d recommendations", len(out), len(users))

    def _recommend(self, stage: BatchStage, users: list[str]) -> list[Any]:
        self.proxy.stage = stage
        return list(self.engine.recommend(users))

    async def _send(self, records: list[OutRecord]) -> Written:
        """Publish ``records`` and wait for every acknowledgement, retrying the whole set (the
        duplicates a retry may make are at-least-once); exit without committing when it
        keeps failing. Runs in the engine thread, so the event loop stays responsive."""
        if not records:
            return {}
        for attempt in range(1, self.settings.max_batch_attempts + 1):
            try:
                return await self.in_engine(self.output.send_all, records)
            except OutputError as exc:
                if attempt == self.settings.max_batch_attempts:
                    self._die(f"publishing a batch failed {attempt} times: {exc}")
                self.metrics.batch_retries.inc()
                delay = min(5.0, 0.1 * 2**attempt)
                log.warning("publishing failed (%s); retry %d in %.1fs", exc, attempt, delay)
                await asyncio.sleep(delay)
        return {}  # not reached: _die exits

    async def _write_states(self, changes: dict[str, bytes | None], owner: dict[str, Any]) -> None:
        """Write the batch's changed states to the table's RocksDB store (each in the context
        of one of the user's events, so in the user's partition) and to its changelog, and
        record the changelog offsets as persisted — what faust's ``Table.__setitem__`` does
        per key, with its one-record-at-a-time send buffer; here the changelog records go out
        together and are acknowledged together."""
        table = self.parts.users
        store = table.data
        changelog = table.changelog_topic.get_topic_name()
        records: list[OutRecord] = []
        for user, value in changes.items():
            ev = owner.get(user)
            if ev is None:
                self._die(f"engine changed user {user!r} that is not in the batch")
                return
            key = user.encode()
            with _in_event(ev):
                if value is None:
                    store.pop(key, None)
                else:
                    store[key] = value
            records.append(OutRecord(changelog, key, value, ev.message.partition))
        written = await self._send(records)
        for (topic, partition), offset in written.items():
            if topic == changelog:
                store.set_persisted_offset(TP(topic, partition), offset)

    def _die(self, why: str) -> None:
        """Stop at once without committing: the batch is redelivered after a restart."""
        log.critical("%s; exiting without committing offsets", why)
        logging.shutdown()
        os._exit(70)

    def idle_for(self) -> float:
        """Seconds since the last batch or the last applied signal deltas."""
        return time.monotonic() - max(self.last_batch_at, self.last_signal_at)

    def _observe(
        self, results: list[BatchResult], types: Counter[str], n: int, seconds: float
    ) -> None:
        m = self.metrics
        self.batches += 1
        self.processed += n
        self.metrics.applied.inc(sum(r.applied for r in results))
        self.last_batch_at = time.monotonic()
        m.batch_size.observe(n)
        m.batch_duration.observe(seconds)
        for event_type, count in types.items():
            m.events.labels(event_type).inc(count)
        now = self.clock.now_ms()
        for result in results:
            m.duplicates.inc(result.duplicates)
            for r in result.rejections:
                m.rejected.labels(r.reason).inc()
            for rec in result.recommendations:
                m.publish_latency.observe(max(0.0, (now - rec.ts) / 1000.0))
            m.recommendations.inc(len(result.recommendations))
            for a in result.alerts:
                m.alerts.labels(a.severity).inc()
        for d in self._poison:
            m.rejected.labels(d.reason).inc()
        self._poison = []
