"""The engine's side of the worker: every call the faust process makes, with picklable
arguments and results, so the same object serves a thread or a child process.

Each call takes plain data (messages, the stored state bytes of the batch's users, the wall
clock ``now_ms`` of the caller) and returns plain data: rendered JSON bodies, rejections, the
encoded signal-delta records and the state changes to write back. Nothing here touches Kafka,
faust or a clock.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field

from streams.core.engine import BatchResult, Engine
from streams.core.messages import Message
from streams.core.outputs import Recommendation, Rejection
from streams.host.staging import BatchStage, StageProxy
from streams.kafka.signal_ledger import SignalLedger
from streams.kafka.signals_checkpoint import (
    Checkpoint,
    CheckpointError,
    decode_checkpoint,
    encode_checkpoint,
)
from streams.kafka.signals_codec import SignalCodecError, Span, decode_record, encode_batch

__all__ = [
    "AlertOut",
    "BatchOut",
    "EngineCalls",
    "ItemsOut",
    "Poison",
    "RecOut",
    "SignalsOut",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RecOut:
    """One recommendation list, rendered: the user, its JSON body and its event time."""

    user_id: str
    body: bytes
    ts: int


@dataclass(frozen=True, slots=True)
class AlertOut:
    """One drift alert, rendered."""

    user_id: str
    body: bytes
    severity: str


@dataclass(frozen=True, slots=True)
class Poison:
    """A message that made the engine raise even alone (a ``processing_error`` dead letter)."""

    detail: str
    message: Message


@dataclass(slots=True)
class BatchOut:
    """What one batch produced, ready to publish and to write back."""

    recommendations: list[RecOut] = field(default_factory=list)
    alerts: list[AlertOut] = field(default_factory=list)
    rejections: list[Rejection] = field(default_factory=list)
    poison: list[Poison] = field(default_factory=list)
    item_upserts: list[tuple[str, bytes]] = field(default_factory=list)  # (item id, JSON)
    signal_records: list[bytes] = field(default_factory=list)  # encoded SignalDeltas
    signal_key: bytes = b""  # the writer id: every record of one writer in one partition
    changes: dict[str, bytes | None] = field(default_factory=dict)  # user -> state (None: gone)
    applied: int = 0
    duplicates: int = 0


@dataclass(frozen=True, slots=True)
class SignalsOut:
    """What a signals call did: records applied, repeats dropped (a retried publication),
    incomplete batches dropped (their writers died halfway; the oldest beyond a bound)."""

    applied: int = 0
    repeated: int = 0
    abandoned: int = 0


@dataclass(frozen=True, slots=True)
class ItemsOut:
    """What a catalog call did: its rejections and the catalog's size after it (live items)."""

    rejections: list[Rejection]
    catalog_items: int


def _rec(r: Recommendation) -> RecOut:
    return RecOut(r.user_id, r.to_json(), r.ts)


def _render(results: Sequence[BatchResult], poison: list[Poison]) -> BatchOut:
    out = BatchOut(poison=poison)
    for res in results:
        out.recommendations += [_rec(r) for r in res.recommendations]
        out.alerts += [AlertOut(a.user_id, a.to_json(), a.severity) for a in res.alerts]
        out.rejections += res.rejections
        out.item_upserts += [(it.item_id, it.to_json()) for it in res.item_upserts]
        out.applied += res.applied
        out.duplicates += res.duplicates
    return out


def spans_of(messages: Sequence[Message]) -> tuple[Span, ...]:
    """The offsets each (topic, partition) has in ``messages`` (those with a position)."""
    bounds: dict[tuple[str, int], list[int]] = {}
    for _, _, topic, partition, offset in messages:
        if partition < 0 or offset < 0:
            continue
        b = bounds.get((topic, partition))
        if b is None:
            bounds[topic, partition] = [offset, offset]
        elif offset < b[0]:
            b[0] = offset
        elif offset > b[1]:
            b[1] = offset
    return tuple(Span(t, p, *bounds[t, p]) for t, p in sorted(bounds))


class EngineCalls:
    """The engine behind the worker; one call at a time (the engine is not thread-safe).

    ``proxy`` is the engine's user mapping: each call points it at a stage of the stored
    bytes the caller sent, and the stage's changes go back with the result.

    ``writer`` names this engine's signal records (random when not given; one per worker
    process start): each batch's deltas are marked with it, the batch's number and input
    offsets, so that readers apply every batch once and a batch redelivered after a crash
    does not publish its deltas again (:class:`~streams.kafka.signal_ledger.SignalLedger`).
    """

    def __init__(self, engine: Engine, proxy: StageProxy, writer: bytes | None = None) -> None:
        self.engine = engine
        self.proxy = proxy
        self.writer = writer if writer is not None else uuid.uuid4().bytes
        self.ledger = SignalLedger()
        self._seq = 0
        self._builds = 0

    def process(
        self, messages: list[Message], prefetched: dict[str, bytes], now_ms: int
    ) -> BatchOut:
        """One batch. If it raises, each message is retried alone and the ones that still
        raise come back as :class:`Poison` (their state changes are dropped)."""
        stage = BatchStage(prefetched)
        self.proxy.stage = stage
        spans = spans_of(messages)
        counted = self.ledger.counted(messages, spans)
        poison: list[Poison] = []
        try:
            results = [self.engine.process(messages, now_ms=now_ms, counted=counted)]
        except Exception:
            log.exception("engine failed on a batch of %d; retrying one by one", len(messages))
            stage.reset(prefetched)
            results = []
            for i, m in enumerate(messages):
                try:
                    one = None if counted is None else counted[i : i + 1]
                    results.append(self.engine.process([m], now_ms=now_ms, counted=one))
                except Exception as exc:
                    log.exception("poison message %s/%d@%d", m.topic, m.partition, m.offset)
                    poison.append(Poison(repr(exc), m))
        out = _render(results, poison)
        deltas = [r.signal_deltas for r in results if len(r.signal_deltas)]
        if deltas:
            self._seq += 1
            out.signal_records = encode_batch(deltas, self.writer, self._seq, spans)
            out.signal_key = self.writer
        out.changes = stage.changes()
        self._note_index()
        return out

    def _note_index(self) -> None:
        """Log each build of the item index the last call installed (one per call at most)."""
        index = self.engine.item_index
        if index.builds == self._builds or index.last_build is None:
            return
        self._builds = index.builds
        b = index.last_build
        where = "in a background thread" if b.background else "in line"
        log.info("item index built over %d items in %.1f s (%s)", b.rows, b.seconds, where)

    def apply_items(self, messages: list[Message]) -> ItemsOut:
        """Catalog upserts and deletions (one encoder call for the new or changed items).

        If the call raises, each record is applied alone, and one that still raises comes
        back as a ``processing_error`` rejection: the catalog is read whole by every worker
        at every start, so a record the engine cannot take would otherwise stop them all,
        each time (re-applying a record is idempotent: an upsert of the same item). When
        every record of several fails alone too, the engine is broken, not the records: that
        raises (the worker stops, as before)."""
        try:
            rejections = self.engine.apply_items(messages).rejections
        except Exception:
            log.exception("engine failed on %d catalog records; retrying one by one", len(messages))
            rejections = []
            failed = 0
            for m in messages:
                try:
                    rejections += self.engine.apply_items([m]).rejections
                except Exception as exc:
                    failed += 1
                    if failed == len(messages) > 1:
                        raise
                    log.exception("poison catalog record %s/%d@%d", m.topic, m.partition, m.offset)
                    rejections.append(
                        Rejection(
                            "processing_error",
                            repr(exc)[:200],
                            m.value,
                            m.topic,
                            m.partition,
                            m.offset,
                        )
                    )
        return ItemsOut(rejections, self.catalog_items())

    def apply_signals(self, records: list[bytes]) -> SignalsOut:
        """Apply encoded signal-delta records, each batch once and only when all its records
        are in (:class:`~streams.kafka.signal_ledger.SignalLedger`); an undecodable record is
        logged and skipped."""
        ledger = self.ledger
        repeated, abandoned = ledger.duplicates, ledger.abandoned
        applied = 0
        for value in records:
            try:
                deltas, mark = decode_record(value)
            except SignalCodecError:
                log.exception("skipping an undecodable signals record")
                continue
            ready = [deltas] if mark is None else self.ledger.offer(deltas, mark)
            for d in ready:
                self.engine.apply_signal_deltas(d)
            applied += len(ready)
        return SignalsOut(applied, ledger.duplicates - repeated, ledger.abandoned - abandoned)

    def checkpoint_signals(self, positions: dict[int, int]) -> bytes:
        """The global signals and their ledger as a checkpoint blob, when what was read of
        ``signals`` ends at ``positions`` (partition → next offset) and all of it was
        applied (:mod:`streams.kafka.signals_checkpoint`)."""
        engine = self.engine
        return encode_checkpoint(
            Checkpoint(
                dict(positions),
                engine.signals.totals(engine.catalog),
                self.ledger.state(),
                self._half_lives(),
            )
        )

    def _half_lives(self) -> tuple[float, float]:
        """The co-visitation and trending half-lives a checkpoint is kept with (ms)."""
        p = self.engine.params
        return float(p.covis.half_life_ms), float(p.trending.half_life_ms)

    def restore_signals(self, blob: bytes) -> dict[int, int] | None:
        """Load a checkpoint blob in place of the signals and ledger held (a start); the
        positions of ``signals`` to read on from, or ``None`` when it cannot be used (it is
        unreadable, or was kept with other half-lives): then nothing changed."""
        engine = self.engine
        try:
            c = decode_checkpoint(blob)
            ledger = SignalLedger.restored(c.ledger)
        except (CheckpointError, SignalCodecError, ValueError):
            log.exception("cannot read the signals checkpoint; reading signals from the start")
            return None
        if c.half_lives != self._half_lives():
            log.warning(
                "the signals checkpoint was kept with half-lives %s (now %s); "
                "reading signals from the start",
                c.half_lives,
                self._half_lives(),
            )
            return None
        engine.signals.load(c.totals, engine.catalog)
        self.ledger = ledger
        return c.positions

    def prepare(self) -> int:
        """Build what recommending needs now (the item index); returns the catalog size."""
        self.engine.prepare_recommend()
        self._note_index()
        return self.catalog_items()

    def catalog_items(self) -> int:
        """Items in the catalog now (deleted ones not counted)."""
        return int(self.engine.catalog.recommendable().sum())

    def recommend(self, prefetched: dict[str, bytes], users: list[str]) -> list[RecOut]:
        """Recommendations for ``users`` from their stored states (no state changes)."""
        self.proxy.stage = BatchStage(prefetched)
        out = [_rec(r) for r in self.engine.recommend(users)]
        self._note_index()
        return out
