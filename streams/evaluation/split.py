"""The hold-out split: each user's last positive event is held out, the rest is training.

Input: the events file's lines, parsed (``Event``) or not (``None``: the engine will reject
the line; it stays in training so the engine sees exactly the file's bad input too).

Per user, events are deduplicated by ``event_id`` (a resend is the same event) and ordered by
``(ts, event_id)`` — event time, not file order. The held-out event is the last *positive*
one: a type in ``positive_types`` (click, add_to_cart, purchase by default) or a rating with
``value >= min_rating``. Training then drops, for that user only, every line (resends
included) with ``ts >= `` the held-out ts — the future — and every line on the held-out item,
so the held-out item is new to the user and never leaks through an earlier view. Users with no
positive event, or with fewer than ``min_train`` training events left, are not evaluated and
keep all their lines in training. Other users' events are all trained on (a global
leave-last-out, as usual; the engine is scored at the held-out event's time).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from streams.core.events import Event

__all__ = ["DEFAULT_POSITIVE_TYPES", "HeldOut", "Split", "holdout_split"]

DEFAULT_POSITIVE_TYPES = frozenset({"click", "add_to_cart", "purchase"})


@dataclass(frozen=True, slots=True)
class HeldOut:
    """One user's held-out interaction and the items the user touched in training."""

    user_id: str
    item_id: str
    ts: int
    event_id: str
    type: str
    train_items: frozenset[str] = field(default_factory=frozenset)


@dataclass(frozen=True, slots=True)
class Split:
    """``train[i]``: whether line ``i`` is trained on; ``held_out``: sorted by user id."""

    train: npt.NDArray[np.bool_]
    held_out: tuple[HeldOut, ...]
    skipped_users: int

    @property
    def train_lines(self) -> int:
        """How many lines are trained on."""
        return int(self.train.sum())


def _is_positive(e: Event, positive_types: frozenset[str], min_rating: float) -> bool:
    if e.type in positive_types:
        return True
    return e.type == "rating" and e.value is not None and e.value >= min_rating


def holdout_split(
    events: Sequence[Event | None],
    *,
    positive_types: frozenset[str] = DEFAULT_POSITIVE_TYPES,
    min_rating: float = 4.0,
    min_train: int = 3,
) -> Split:
    """Split the lines ``events`` (see the module docstring)."""
    lines_of: dict[str, list[int]] = {}
    for i, e in enumerate(events):
        if e is not None:
            lines_of.setdefault(e.user_id, []).append(i)
    train = np.ones(len(events), dtype=bool)
    held: list[HeldOut] = []
    skipped = 0
    for user in sorted(lines_of):
        lines = lines_of[user]
        unique: dict[str, Event] = {}
        for i in lines:
            e = events[i]
            assert e is not None
            unique.setdefault(e.event_id, e)
        positives = [e for e in unique.values() if _is_positive(e, positive_types, min_rating)]
        if not positives:
            skipped += 1
            continue
        last = max(positives, key=lambda e: (e.ts, e.event_id))
        drop = [i for i in lines if _dropped(events[i], last)]
        kept = {e.event_id: e for e in unique.values() if not _dropped(e, last)}
        if len(kept) < min_train:
            skipped += 1
            continue
        train[drop] = False
        held.append(
            HeldOut(
                user_id=user,
                item_id=last.item_id,
                ts=last.ts,
                event_id=last.event_id,
                type=last.type,
                train_items=frozenset(e.item_id for e in kept.values()),
            )
        )
    return Split(train=train, held_out=tuple(held), skipped_users=skipped)


def _dropped(e: Event | None, last: Event) -> bool:
    assert e is not None
    return e.ts >= last.ts or e.item_id == last.item_id
