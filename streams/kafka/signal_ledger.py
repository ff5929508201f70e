"""Which batches' signal deltas were applied, and which input offsets they counted.

Every worker reads the whole ``signals`` topic and applies what it reads, so a batch's
deltas must be applied once however often they are published. Two ways they could repeat:

- the worker retries a publication that partly failed: the records that made it go out
  again (same writer, same ``seq``);
- the worker crashes after publishing a batch's deltas but before its state and offsets are
  durable: after the restart the same events come again, their users' states do not have
  them yet, and the engine would count them a second time (a new writer, a new ``seq``).

The ledger answers both. A batch is applied once all its parts are in, and once (a part or
a batch seen again is dropped). Its spans then raise, per input topic partition, the highest
offset whose increments are published (:meth:`SignalLedger.counted`): the engine makes no
increments again for redelivered events at or below it (their states are still applied if
missing). A batch whose writer died halfway is never applied (its events came again, whole,
to whoever owns them next); its parts wait in memory (at most ``MAX_PENDING`` batches, the
oldest dropped first: they are the ones that will never complete).

Nothing here relies on the order in which records are read: one writer's records share a
key (one partition, in order), but different writers' records are read in any order (and
one writer's after partitions were added to ``signals``). Every reader that has read the
same records applies the same batches, whatever the order (no batch is dropped for what
was read before it).

This relies on a worker publishing a batch's records only after the previous batch's were
acknowledged (the runtime's completion order), and on a worker reading the signals topic up
to its end before it processes partitions it was just given.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from state.signals import SignalDeltas
from streams.core.messages import Message
from streams.kafka.signals_codec import BatchMark, Span, decode_record, encode_deltas

__all__ = ["LedgerState", "SignalLedger"]

log = logging.getLogger(__name__)


KEEP_DONE = 4096
"""Batches remembered per writer as applied or dropped (their repeats are recognised):
a retried publication repeats its records within seconds, a few batches later at most."""
MAX_PENDING = 256
"""Incomplete batches kept (a batch's parts are published together: a batch stays
incomplete for long only when its writer died halfway)."""
MAX_WRITERS = 1024
"""Writers remembered, the most recently read ones (each worker process start is a new
writer, and checkpoints carry the ledger on: without a bound it would only grow). A writer
not read for that many others' arrivals is long dead; its repeats cannot come any more."""


@dataclass(slots=True)
class _Batch:
    parts: int
    spans: tuple[Span, ...]
    got: dict[int, SignalDeltas] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class LedgerState:
    """A ledger as plain data (a checkpoint's content): the batches applied per writer, the
    published offset per input partition, and the parts read of incomplete batches as the
    records they came in (oldest batch first)."""

    done: dict[bytes, list[int]]
    high: dict[tuple[str, int], int]
    pending: list[bytes]
    duplicates: int = 0
    abandoned: int = 0


class SignalLedger:
    """The batches applied per writer and the published offsets per input partition."""

    def __init__(self) -> None:
        self._done: dict[bytes, set[int]] = {}
        self._pending: dict[tuple[bytes, int], _Batch] = {}
        self._high: dict[tuple[str, int], int] = {}
        self.duplicates = 0  # parts dropped because their batch was applied already
        self.abandoned = 0  # incomplete batches dropped (the oldest, beyond MAX_PENDING)

    def offer(self, deltas: SignalDeltas, mark: BatchMark) -> list[SignalDeltas]:
        """Take one record; returns the deltas to apply now: the whole batch when this part
        completes it, else nothing."""
        key = (mark.writer, mark.seq)
        self._touch(mark.writer)
        if mark.seq in self._done[mark.writer]:
            self.duplicates += 1
            return []
        batch = self._pending.get(key)
        if batch is None:
            batch = self._pending[key] = _Batch(mark.parts, mark.spans)
            if len(self._pending) > MAX_PENDING:
                self._drop(next(iter(self._pending)))
        if mark.part in batch.got:
            self.duplicates += 1
            return []
        batch.got[mark.part] = deltas
        if len(batch.got) < batch.parts:
            return []
        del self._pending[key]
        self._finish(key)
        high = self._high
        for s in batch.spans:
            tp = (s.topic, s.partition)
            high[tp] = max(high.get(tp, -1), s.last)
        return [batch.got[i] for i in range(batch.parts)]

    def _touch(self, writer: bytes) -> None:
        """Make ``writer`` the most recently read; forget the least recent beyond the bound
        (its incomplete batches are given up)."""
        done = self._done.pop(writer, None)
        self._done[writer] = set() if done is None else done
        while len(self._done) > MAX_WRITERS:
            old = next(iter(self._done))
            del self._done[old]
            for key in [k for k in self._pending if k[0] == old]:
                del self._pending[key]
                self.abandoned += 1

    def _drop(self, key: tuple[bytes, int]) -> None:
        batch = self._pending.pop(key)
        self.abandoned += 1
        self._finish(key)
        log.warning(
            "signals: dropped incomplete batch %d of writer %s (%d of %d parts read; "
            "its writer died halfway)",
            key[1],
            key[0].hex()[:8],
            len(batch.got),
            batch.parts,
        )

    def _finish(self, key: tuple[bytes, int]) -> None:
        done = self._done.setdefault(key[0], set())
        done.add(key[1])
        if len(done) > 2 * KEEP_DONE:  # keep the newest (amortised)
            self._done[key[0]] = set(sorted(done)[-KEEP_DONE:])

    def pending(self) -> int:
        """Batches with some parts read and not complete yet."""
        return len(self._pending)

    def state(self) -> LedgerState:
        """A copy of what this ledger knows (:meth:`restored` gives it back)."""
        pending = [
            encode_deltas(deltas, BatchMark(writer, seq, part, batch.parts, batch.spans))
            for (writer, seq), batch in self._pending.items()
            for part, deltas in batch.got.items()
        ]
        return LedgerState(
            done={w: sorted(seqs) for w, seqs in self._done.items()},
            high=dict(self._high),
            pending=pending,
            duplicates=self.duplicates,
            abandoned=self.abandoned,
        )

    @classmethod
    def restored(cls, state: LedgerState) -> SignalLedger:
        """A ledger that knows what ``state`` knew (a start from a checkpoint)."""
        ledger = cls()
        ledger._done = {w: set(seqs) for w, seqs in state.done.items()}
        ledger._high = dict(state.high)
        for record in state.pending:
            deltas, mark = decode_record(record)
            if mark is None or ledger.offer(deltas, mark):
                raise ValueError("a pending part of a checkpoint completes nothing")
        ledger._done = {w: set(seqs) for w, seqs in state.done.items()}  # its order, too
        ledger.duplicates, ledger.abandoned = state.duplicates, state.abandoned
        return ledger

    def counted(
        self, messages: Sequence[Message], spans: tuple[Span, ...]
    ) -> npt.NDArray[np.bool_] | None:
        """Per message of a batch whose offsets are ``spans``: are its increments published
        already (an event seen again after a crash)? ``None`` when none is (the usual case,
        answered from the spans alone). Messages without a Kafka position never are."""
        high = self._high
        if not any(s.first <= high.get((s.topic, s.partition), -1) for s in spans):
            return None
        out = np.zeros(len(messages), np.bool_)
        for i, m in enumerate(messages):
            if m.offset >= 0 and m.offset <= high.get((m.topic, m.partition), -1):
                out[i] = True
        return out
