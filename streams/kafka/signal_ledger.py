"""Which batches' signal deltas were applied, and which input offsets they counted.

Every worker reads the whole ``signals`` topic and applies what it reads, so a batch's
deltas must be applied once however often they are published. Two ways they could repeat:

- the worker retries a publication that partly failed: the records that made it go out
  again (same writer, same ``seq``);
- the worker crashes after publishing a batch's deltas but before its state and offsets are
  durable: after the restart the same events come again, their users' states do not have
  them yet, and the engine would count them a second time (a new writer, a new ``seq``).

The ledger answers both. Records of one writer share a key, so they are read in the order
they were written; a batch is applied once all its parts are in, once (a part or a batch
seen again is dropped), and a batch whose parts never all arrive (the writer died halfway)
is never applied: its events are processed again by whoever owns them next, who publishes
them whole. A complete batch's spans raise, per input topic partition, the highest offset
whose deltas are published (:meth:`SignalLedger.counted`); the engine skips the deltas of
redelivered events at or below it (their states are still applied if missing).

This relies on a worker publishing its batches in order, each only after the previous one
was acknowledged (the runtime's completion order), and on a worker reading the signals
topic up to its end before it processes partitions it was just given.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from state.signals import SignalDeltas
from streams.core.messages import Message
from streams.kafka.signals_codec import BatchMark

__all__ = ["SignalLedger"]

log = logging.getLogger(__name__)


@dataclass(slots=True)
class _Writer:
    done: int = -1  # the newest seq applied
    seq: int = -1  # the seq whose parts are being collected
    parts: dict[int, SignalDeltas] = field(default_factory=dict)


class SignalLedger:
    """The batches applied per writer and the published offsets per input partition."""

    def __init__(self) -> None:
        self._writers: dict[bytes, _Writer] = {}
        self._high: dict[tuple[str, int], int] = {}
        self.duplicates = 0  # parts dropped because they were applied already
        self.abandoned = 0  # batches dropped incomplete

    def offer(self, deltas: SignalDeltas, mark: BatchMark) -> list[SignalDeltas]:
        """Take one record; returns the deltas to apply now: the whole batch when this part
        completes it, else nothing."""
        w = self._writers.setdefault(mark.writer, _Writer())
        if mark.seq <= w.done or (mark.seq == w.seq and mark.part in w.parts):
            self.duplicates += 1
            return []
        if mark.seq != w.seq:
            if w.parts:
                self.abandoned += 1
                log.warning(
                    "signals: writer %s left batch %d incomplete (%d of its parts read)",
                    mark.writer.hex()[:8],
                    w.seq,
                    len(w.parts),
                )
            w.seq, w.parts = mark.seq, {}
        w.parts[mark.part] = deltas
        if len(w.parts) < mark.parts:
            return []
        ready = [w.parts[i] for i in range(mark.parts)]
        w.done, w.seq, w.parts = mark.seq, -1, {}
        high = self._high
        for s in mark.spans:
            key = (s.topic, s.partition)
            if s.last > high.get(key, -1):
                high[key] = s.last
        return ready

    def published_through(self, topic: str, partition: int) -> int:
        """The highest offset of ``topic``/``partition`` whose deltas are applied (-1: none)."""
        return self._high.get((topic, partition), -1)

    def counted(self, messages: Sequence[Message]) -> npt.NDArray[np.bool_]:
        """Per message: are its deltas published already (an event seen again after a
        crash)? Messages without a Kafka position never are."""
        out = np.zeros(len(messages), np.bool_)
        high = self._high
        if not high:
            return out
        for i, m in enumerate(messages):
            if m.offset >= 0 and m.offset <= high.get((m.topic, m.partition), -1):
                out[i] = True
        return out
