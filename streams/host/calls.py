"""The engine's side of the worker: every call the faust process makes, with picklable
arguments and results, so the same object serves a thread or a child process.

Each call takes plain data (messages, the stored state bytes of the batch's users, the wall
clock ``now_ms`` of the caller) and returns plain data: rendered JSON bodies, rejections, the
encoded signal-delta records and the state changes to write back. Nothing here touches Kafka,
faust or a clock.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

from streams.core.engine import BatchResult, Engine
from streams.core.messages import Message
from streams.core.outputs import Recommendation, Rejection
from streams.host.staging import BatchStage, StageProxy
from streams.kafka.signals_codec import SignalCodecError, decode_deltas, encode_split

__all__ = [
    "AlertOut",
    "BatchOut",
    "EngineCalls",
    "ItemsOut",
    "Poison",
    "RecOut",
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
    changes: dict[str, bytes | None] = field(default_factory=dict)  # user -> state (None: gone)
    applied: int = 0
    duplicates: int = 0


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
        if len(res.signal_deltas):
            out.signal_records += encode_split(res.signal_deltas)
        out.applied += res.applied
        out.duplicates += res.duplicates
    return out


class EngineCalls:
    """The engine behind the worker; one call at a time (the engine is not thread-safe).

    ``proxy`` is the engine's user mapping: each call points it at a stage of the stored
    bytes the caller sent, and the stage's changes go back with the result.
    """

    def __init__(self, engine: Engine, proxy: StageProxy) -> None:
        self.engine = engine
        self.proxy = proxy

    def process(
        self, messages: list[Message], prefetched: dict[str, bytes], now_ms: int
    ) -> BatchOut:
        """One batch. If it raises, each message is retried alone and the ones that still
        raise come back as :class:`Poison` (their state changes are dropped)."""
        stage = BatchStage(prefetched)
        self.proxy.stage = stage
        poison: list[Poison] = []
        try:
            results = [self.engine.process(messages, now_ms=now_ms)]
        except Exception:
            log.exception("engine failed on a batch of %d; retrying one by one", len(messages))
            stage.reset(prefetched)
            results = []
            for m in messages:
                try:
                    results.append(self.engine.process([m], now_ms=now_ms))
                except Exception as exc:
                    log.exception("poison message %s/%d@%d", m.topic, m.partition, m.offset)
                    poison.append(Poison(repr(exc), m))
        out = _render(results, poison)
        out.changes = stage.changes()
        return out

    def apply_items(self, messages: list[Message]) -> ItemsOut:
        """Catalog upserts and deletions (one encoder call for the new or changed items)."""
        res = self.engine.apply_items(messages)
        return ItemsOut(res.rejections, self.catalog_items())

    def apply_signals(self, records: list[bytes]) -> int:
        """Apply encoded signal-delta records; returns how many were applied (an
        undecodable record is logged and skipped)."""
        applied = 0
        for value in records:
            try:
                deltas = decode_deltas(value)
            except SignalCodecError:
                log.exception("skipping an undecodable signals record")
                continue
            self.engine.apply_signal_deltas(deltas)
            applied += 1
        return applied

    def prepare(self) -> int:
        """Build what recommending needs now (the item index); returns the catalog size."""
        self.engine.prepare_recommend()
        return self.catalog_items()

    def catalog_items(self) -> int:
        """Items in the catalog now (deleted ones not counted)."""
        return int(self.engine.catalog.recommendable().sum())

    def recommend(self, prefetched: dict[str, bytes], users: list[str]) -> list[RecOut]:
        """Recommendations for ``users`` from their stored states (no state changes)."""
        self.proxy.stage = BatchStage(prefetched)
        return [_rec(r) for r in self.engine.recommend(users)]
