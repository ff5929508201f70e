"""Training an engine offline: load the catalog, replay the training events in file order.

Exactly what replay does: ``Engine.apply_items`` over the items file, then
``Engine.process`` over the events in file order, ``batch_size`` messages per call. User
states do not depend on the batch cuts; the co-visitation graph does, slightly: each item's
neighbours are pruned to ``covis.max_neighbors`` at every merge, so smaller batches prune
more often (docs/data.md). Recommendations are not computed while
training (``recommend=False``); drift alerts are kept, for the drift evaluation.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from streams.core.engine import Engine
from streams.core.messages import Message
from streams.core.outputs import DriftAlert

__all__ = ["Progress", "TrainStats", "load_items", "train"]

Progress = Callable[[str, int, int], None]
"""``progress(phase, done, total)``: called as work advances (phases: items, train, score)."""


@dataclass(slots=True)
class TrainStats:
    """What training saw: rejected lines, duplicates, applied events, drift alerts."""

    rejected: int = 0
    duplicates: int = 0
    applied: int = 0
    item_rejections: int = 0
    alerts: list[DriftAlert] = field(default_factory=list)


def _chunks(messages: Sequence[Message], size: int) -> list[Sequence[Message]]:
    if size < 1:
        raise ValueError(f"batch size must be >= 1, got {size}")
    return [messages[i : i + size] for i in range(0, len(messages), size)]


def load_items(
    engine: Engine,
    items: Sequence[Message],
    stats: TrainStats,
    batch_size: int = 512,
    progress: Progress | None = None,
) -> None:
    """Upsert/delete the catalog items in file order (the encoder runs once per batch)."""
    done = 0
    for chunk in _chunks(items, batch_size):
        stats.item_rejections += len(engine.apply_items(chunk).rejections)
        done += len(chunk)
        if progress is not None:
            progress("items", done, len(items))


def train(
    engine: Engine,
    events: Sequence[Message],
    stats: TrainStats,
    batch_size: int = 8192,
    progress: Progress | None = None,
) -> None:
    """Replay ``events`` through ``engine.process`` in file order, ``batch_size`` at a time."""
    done = 0
    for chunk in _chunks(events, batch_size):
        res = engine.process(chunk, recommend=False)
        stats.rejected += len(res.rejections)
        stats.duplicates += res.duplicates
        stats.applied += res.applied
        stats.alerts.extend(res.alerts)
        done += len(chunk)
        if progress is not None:
            progress("train", done, len(events))
