"""The worker's signals checkpoints: the newest one loaded at start, a new one written now and
then (:mod:`streams.kafka.signals_checkpoint` holds the format and why it is exact).

A start reads the ``signals.checkpoints`` topic whole (two checkpoints at most once
compacted), loads the newest complete checkpoint into the engine and reads ``signals`` on from
its positions instead of from the beginning. While running, the worker that owns partition 0
of the event topics writes a checkpoint every ``signals_checkpoint_s`` seconds, taken between
two fetches of the signals reader (so it covers exactly the records applied), through a
producer of its own (a checkpoint is tens of MB at 100k items; batches keep publishing
meanwhile). A checkpoint that fails to be written is logged and counted; the next one is
tried an interval later.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from aiokafka import ConsumerRecord

from streams.host.client import EngineClient
from streams.kafka.broadcast import BroadcastReader
from streams.kafka.output import OutputProducer, OutRecord
from streams.kafka.signals_checkpoint import Found, checkpoint_records, latest_checkpoint
from streams.metrics import WorkerMetrics
from streams.settings import Settings

__all__ = ["CHECKPOINT_TOPIC", "SignalCheckpoints", "read_latest_checkpoint"]

log = logging.getLogger(__name__)

CHECKPOINT_TOPIC = "signals.checkpoints"


async def read_latest_checkpoint(bootstrap: str, topic: str, client_id: str) -> Found | None:
    """The newest complete checkpoint in ``topic`` (read to its end now), if any. Only the
    latest value of each key is kept while reading (records compaction has not removed yet
    are not held)."""
    latest: dict[bytes, bytes | None] = {}

    async def collect(batch: list[ConsumerRecord[bytes, bytes]]) -> None:
        for r in batch:
            if r.key is not None:
                latest[r.key] = r.value

    reader = BroadcastReader(bootstrap, topic, collect, client_id=client_id)  # type: ignore[arg-type]
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
    return latest_checkpoint(latest.items())


class SignalCheckpoints:
    """Loads the newest signals checkpoint at start; writes one every interval when
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
        self._writer = uuid.uuid4().bytes
        self._slot = 0
        self._last = time.monotonic()  # the first one an interval after the start
        self._producer: OutputProducer | None = None
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="checkpoint")

    async def restore(self) -> dict[int, int]:
        """Load the newest checkpoint into the engine; the ``signals`` positions to read on
        from (empty: from the beginning)."""
        s = self.settings
        found = await read_latest_checkpoint(
            s.bootstrap, self.topic, client_id=f"{s.app_id}-checkpoints"
        )
        if found is None:
            log.info("no signals checkpoint yet: reading %s from its start", s.topic("signals"))
            return {}
        self._slot = 1 - found.slot  # the next one keeps this one intact while it is written
        positions = await self.engine.restore_signals(found.blob)
        if positions is None:
            return {}
        self.restored_covered = found.covered
        log.info(
            "signals restored from a checkpoint of %d bytes covering %d records; reading on "
            "from %s",
            len(found.blob),
            found.covered,
            positions,
        )
        return positions

    async def after_fetch(self, positions: dict[int, int]) -> None:
        """Write a checkpoint at ``positions`` if one is due and this worker writes them."""
        now = time.monotonic()
        if self.interval_s <= 0 or now - self._last < self.interval_s or not self.writes():
            return
        self._last = now
        try:
            await self._write(positions)
        except Exception:  # the next one is tried an interval later
            log.exception("writing the signals checkpoint failed")
            self.metrics.signal_checkpoints.labels("failed").inc()

    async def _write(self, positions: dict[int, int]) -> None:
        start = time.monotonic()
        blob = await self.engine.checkpoint_signals(positions)
        covered = sum(positions.values())
        records = [
            OutRecord(self.topic, key, value)
            for key, value in checkpoint_records(
                blob, covered=covered, writer=self._writer, slot=self._slot
            )
        ]
        if self._producer is None:
            self._producer = OutputProducer(self.settings.client_config())
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._executor, self._producer.send_all, records, 300.0)
        self.metrics.signal_checkpoints.labels("written").inc()
        self.metrics.signal_checkpoint_bytes.set(len(blob))
        log.info(
            "signals checkpoint written: %d bytes in %d records (slot %d), covering %d "
            "records, in %.1f s",
            len(blob),
            len(records),
            self._slot,
            covered,
            time.monotonic() - start,
        )
        self._slot = 1 - self._slot

    def close(self) -> None:
        """Deliver what is queued and stop the producer's thread."""
        if self._producer is not None:
            self._executor.submit(self._producer.close).result(timeout=30)
        self._executor.shutdown(wait=False)
