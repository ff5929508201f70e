"""The worker's signals checkpoints: the newest one loaded at start, a new one written now and
then (:mod:`streams.kafka.signals_checkpoint` holds the format and why it is exact).

A start reads the ``signals.checkpoints`` topic whole (usually two checkpoints: older ones
are deleted by their writers, then compacted away), loads the best usable checkpoint into the
engine (the next best when one cannot be used) and reads ``signals`` on from its positions
instead of from the beginning; the catalog reader waits for that (a catalog delete must come
after the restored signals, which it prunes). While running, the worker that owns partition
0 of the event topics takes a checkpoint every ``signals_checkpoint_s`` seconds (when the
positions moved) between two fetches of the signals reader, so it covers exactly the records
applied, and sends it in the background through a producer of its own (a checkpoint is tens
of MB at 100k items; batches keep publishing and the reader keeps reading meanwhile). Once it
is whole, the older checkpoints it knows of are deleted but the best other complete one. A
checkpoint that fails is logged and counted; the next one is tried an interval later.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from aiokafka import ConsumerRecord

from streams.host.client import EngineClient
from streams.kafka.broadcast import BroadcastReader
from streams.kafka.output import OutputProducer, OutRecord
from streams.kafka.security import aiokafka_security
from streams.kafka.signals_checkpoint import Found, checkpoint_records, read_checkpoints
from streams.metrics import WorkerMetrics
from streams.settings import Settings

__all__ = ["CHECKPOINT_TOPIC", "SignalCheckpoints", "read_checkpoints_topic"]

log = logging.getLogger(__name__)

CHECKPOINT_TOPIC = "signals.checkpoints"


async def read_checkpoints_topic(
    bootstrap: str, topic: str, client_id: str, security: Mapping[str, Any] | None = None
) -> list[Found]:
    """The checkpoints in ``topic`` (read to its end now), best first
    (:func:`~streams.kafka.signals_checkpoint.read_checkpoints`). Only the latest value of
    each key is kept while reading."""
    latest: dict[bytes, bytes] = {}

    async def collect(batch: list[ConsumerRecord[bytes, bytes]]) -> None:
        for r in batch:
            if r.key is None:
                continue
            if r.value is None:
                latest.pop(r.key, None)
            else:
                latest[r.key] = r.value

    reader = BroadcastReader(
        bootstrap,
        topic,
        collect,  # type: ignore[arg-type]
        client_id=client_id,
        security=security,
    )
    running = asyncio.create_task(reader.run())
    loaded = asyncio.create_task(reader.caught_up.wait())
    try:
        await asyncio.wait({running, loaded}, return_when=asyncio.FIRST_COMPLETED)
        if running.done():
            running.result()  # its error (e.g. the topic is missing)
    finally:
        for task in (running, loaded):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
    return read_checkpoints(latest)


@dataclass(frozen=True, slots=True)
class _Known:
    """A checkpoint in the topic this worker knows of (to delete it once superseded)."""

    covered: int
    complete: bool
    keys: tuple[bytes, ...]


class SignalCheckpoints:
    """Loads the best signals checkpoint at start; writes one every interval when
    :attr:`writes` says this worker is the one to (the owner of event partition 0)."""

    def __init__(
        self,
        settings: Settings,
        engine: EngineClient,
        metrics: WorkerMetrics,
        writes: Callable[[], bool],
    ) -> None:
        self.settings = settings
        self.engine = engine
        self.metrics = metrics
        self.writes = writes
        self.topic = settings.topic(CHECKPOINT_TOPIC)
        self.interval_s = settings.signals_checkpoint_s
        self.restored_covered: int | None = None
        """How many ``signals`` records the loaded checkpoint covered (``None``: none)."""
        self.restored = asyncio.Event()
        """Set once the start's checkpoint is loaded (or found missing or unusable)."""
        self._writer = uuid.uuid4().bytes
        self._seq = 0
        self._known: list[_Known] = []
        self._last = time.monotonic()  # the first one an interval after the start
        self._last_positions: dict[int, int] | None = None
        self._sending: asyncio.Task[None] | None = None
        self._producer: OutputProducer | None = None
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="checkpoint")

    async def restore(self) -> dict[int, int]:
        """Load the best usable checkpoint into the engine; the ``signals`` positions to
        read on from (empty: from the beginning)."""
        s = self.settings
        try:
            found = await read_checkpoints_topic(
                s.bootstrap,
                self.topic,
                client_id=f"{s.app_id}-checkpoints",
                security=aiokafka_security(s),
            )
            self._known = [_Known(f.covered, f.blob is not None, f.keys) for f in found]
            for f in found:
                if f.blob is None:
                    continue
                positions = await self.engine.restore_signals(f.blob)
                if positions is None:
                    continue  # logged by the engine; the next best one is tried
                self.restored_covered = f.covered
                log.info(
                    "signals restored from a checkpoint of %d bytes covering %d records; "
                    "reading on from %s",
                    len(f.blob),
                    f.covered,
                    positions,
                )
                return positions
            log.info("no usable signals checkpoint: reading %s from its start", s.topic("signals"))
            return {}
        finally:
            self.restored.set()

    async def after_fetch(self, positions: dict[int, int]) -> None:
        """Take a checkpoint at ``positions`` (everything read so far is applied) if one is
        due, this worker writes them, the positions moved since the last one and the last
        one is sent; it is sent in the background (the signals reader goes on)."""
        now = time.monotonic()
        if (
            self.interval_s <= 0
            or now - self._last < self.interval_s
            or positions == self._last_positions
            or (self._sending is not None and not self._sending.done())
            or not self.writes()
        ):
            return
        self._last = now
        try:
            blob = await self.engine.checkpoint_signals(positions)
        except Exception:
            log.exception("taking the signals checkpoint failed")
            self.metrics.signal_checkpoints.labels("failed").inc()
            return
        self._sending = asyncio.create_task(self._send(blob, dict(positions)))

    async def _send(self, blob: bytes, positions: dict[int, int]) -> None:
        start = time.monotonic()
        covered = sum(positions.values())
        self._seq += 1
        chunks = checkpoint_records(blob, covered=covered, writer=self._writer, seq=self._seq)
        records = [OutRecord(self.topic, key, value) for key, value in chunks]
        mine = _Known(covered, True, tuple(k for k, _ in chunks))
        others = [k for k in self._known if k.complete]
        keep = max(others, key=lambda k: k.covered, default=None)  # the best other one
        stale = [k for k in self._known if k is not keep]
        tombstones = [OutRecord(self.topic, key, None) for k in stale for key in k.keys]
        if self._producer is None:
            self._producer = OutputProducer(self.settings.client_config())
        loop = asyncio.get_running_loop()
        try:
            await loop.run_in_executor(self._executor, self._producer.send_all, records, 300.0)
            if tombstones:  # only once the new one is whole
                await loop.run_in_executor(
                    self._executor, self._producer.send_all, tombstones, 60.0
                )
        except Exception:  # the next one is tried an interval later
            log.exception("writing the signals checkpoint failed")
            self.metrics.signal_checkpoints.labels("failed").inc()
            self._known.append(_Known(covered, False, mine.keys))  # maybe partly written
            return
        self._known = [mine] if keep is None else [keep, mine]
        self._last_positions = positions
        self.metrics.signal_checkpoints.labels("written").inc()
        self.metrics.signal_checkpoint_bytes.set(len(blob))
        self.metrics.signal_checkpoint_covered.set(covered)
        log.info(
            "signals checkpoint written: %d bytes in %d records, covering %d records, in %.1f s"
            " (%d older records deleted)",
            len(blob),
            len(records),
            covered,
            time.monotonic() - start,
            len(tombstones),
        )

    async def close(self) -> None:
        """Let a checkpoint being sent finish (up to 30 s), deliver what is queued and stop
        the producer's thread."""
        loop = asyncio.get_running_loop()
        with contextlib.suppress(Exception, asyncio.CancelledError):
            if self._sending is not None:
                await asyncio.wait_for(asyncio.shield(self._sending), 30)
            if self._producer is not None:
                await asyncio.wait_for(
                    loop.run_in_executor(self._executor, self._producer.close), 30
                )
        self._executor.shutdown(wait=False)
