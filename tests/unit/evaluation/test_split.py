"""The hold-out split on hand-made event lists."""

from __future__ import annotations

from streams.core.events import Event
from streams.evaluation.split import holdout_split


def ev(eid: str, user: str, item: str, kind: str, ts: int, *, value: float | None = None) -> Event:
    return Event(event_id=eid, user_id=user, item_id=item, type=kind, ts=ts, value=value)


def test_last_positive_by_event_time_is_held_out_with_its_future_and_item() -> None:
    lines: list[Event | None] = [
        ev("1", "u", "a", "view", 10),
        ev("2", "u", "b", "click", 20),
        ev("5", "u", "x", "view", 25),  # an earlier view of the held-out item: dropped
        ev("3", "u", "c", "view", 30),
        ev("6", "u", "x", "purchase", 50),  # arrives before the click below, but is later
        ev("4", "u", "x", "click", 40),
        None,  # a line the engine will reject: stays in training
        ev("7", "u", "d", "view", 60),  # after the held-out event: the future, dropped
        ev("6", "u", "x", "purchase", 50),  # a resend of the held-out event
    ]
    split = holdout_split(lines, min_train=2)
    (h,) = split.held_out
    assert (h.user_id, h.item_id, h.ts, h.event_id, h.type) == ("u", "x", 50, "6", "purchase")
    assert split.train.tolist() == [True, True, False, True, False, False, True, False, False]
    assert h.train_items == {"a", "b", "c"}
    assert split.skipped_users == 0
    assert split.train_lines == 4


def test_high_ratings_are_positive_and_low_ones_are_not() -> None:
    lines: list[Event | None] = [
        ev("1", "u", "a", "view", 1),
        ev("2", "u", "b", "view", 2),
        ev("3", "u", "c", "click", 3),
        ev("4", "u", "d", "rating", 4, value=5.0),
        ev("5", "u", "e", "rating", 5, value=2.0),
    ]
    (h,) = holdout_split(lines, min_train=2).held_out
    assert h.item_id == "d"


def test_users_without_positives_or_history_are_skipped_and_fully_trained() -> None:
    lines: list[Event | None] = [
        ev("1", "viewer", "a", "view", 1),
        ev("2", "viewer", "b", "view", 2),
        ev("3", "newbie", "a", "view", 1),
        ev("4", "newbie", "b", "click", 2),
    ]
    split = holdout_split(lines, min_train=2)
    assert split.held_out == ()
    assert split.skipped_users == 2
    assert split.train.all()


def test_held_out_users_are_sorted_and_other_users_untouched() -> None:
    lines: list[Event | None] = []
    for user in ("z", "a"):
        lines += [ev(f"{user}{i}", user, f"i{i}", "click", i) for i in range(5)]
    split = holdout_split(lines, min_train=3)
    assert [h.user_id for h in split.held_out] == ["a", "z"]
    assert [h.item_id for h in split.held_out] == ["i4", "i4"]
    assert split.train_lines == 8
