"""Interest drift: novelty of a user's recent events against their long-term profile.

A *switch* is a sustained move of the user's recent events onto categories that were new or
rare in the long-term profile; an occasional side session in a category the profile already
holds (an established secondary interest) is not one. Per event, in arrival order:

* The *streak* is the run of consecutive events whose score stayed at or above ``exit``
  (hysteresis); the *window* is the streak's last events plus the current one, at most
  ``window`` of them (all of them live in the user's recent-item memory).
* The *reference* is the long-term category mass at one level (30-day decay) minus the
  window's own mass: what the user liked before the change began. The caller supplies each
  event's share of that mass (:attr:`Entry.removal`; the engine reconstructs it from the
  recent-item memory, where the collaborative weight identifies the event type).
* A category is *new* when its share of the reference is below ``rare_share``.
* ``score`` = the share of the last ``recent_events`` window events' weight in new
  categories; *evidence units* = distinct ``(item, session)`` pairs of the window's events in
  new categories (a session starts after a gap of ``session_gap_ms``), plus one per
  ``repeat_events`` further events on them: one item seen through its whole funnel is one
  unit, the same item again in a later session is another, long engagement adds up.
* The profile must hold ``min_history`` distinct consumed items outside the window.

An alert fires when not in an episode, ``score >= enter``, units ``>= min_evidence`` and the
last alert is ``cooldown_ms`` old; the episode lasts until the score drops below ``exit``.
Everything here is a function of the event's window and the profile after the event, so the
outcome does not depend on how the stream is cut into batches.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from state.user import DriftState

__all__ = [
    "Assessment",
    "DriftRule",
    "Entry",
    "advance",
    "assess",
    "fire",
    "judge",
    "step",
    "units",
]


@dataclass(frozen=True, slots=True)
class DriftRule:
    """The detector's thresholds (a plain copy of the engine's drift parameters)."""

    enter: float
    exit: float
    rare_share: float
    min_evidence: int
    min_history: int
    cooldown_ms: int
    recent_events: int
    session_gap_ms: int
    window: int
    repeat_events: int


@dataclass(frozen=True, slots=True)
class Entry:
    """One event as the detector sees it.

    ``weight``: collaborative weight (>= 0); ``col``: category column (``-1``: none);
    ``removal``: the event's long-term mass in its category, in the units of the profile
    (>= 0); ``new_session``: the gap to the user's previous event opened a session.
    """

    item: str
    weight: float
    col: int
    removal: float
    new_session: bool


@dataclass(frozen=True, slots=True)
class Assessment:
    """The verdict on one window: score, evidence units, new categories, reference."""

    score: float
    units: int
    new: frozenset[int]
    reference: dict[int, float]
    """Reference mass of the window's categories (the other columns keep the profile's)."""


def assess(
    window: Sequence[Entry], profile: Sequence[float], total: float, consumed: int, rule: DriftRule
) -> Assessment:
    """Judge ``window`` (oldest first, the current event last) against the profile.

    ``profile``: long-term mass per category column after the current event; ``total``: the
    sum of its positive entries; ``consumed``: distinct consumed items after the event.
    The two steps (:func:`judge`, :func:`units`) take the window as columns, so a caller
    holding columns can count the units only when they matter.

    >>> rule = DriftRule(0.6, 0.4, 0.1, 2, 1, 0, 3, 60, 8, 4)
    >>> win = [Entry("a", 1.0, 1, 1.0, False), Entry("b", 1.0, 1, 1.0, True)]
    >>> a = assess(win, [10.0, 2.0], 12.0, 5, rule)
    >>> (a.score, a.units, sorted(a.new))
    (1.0, 2, [1])
    >>> assess(win, [10.0, 4.0], 14.0, 5, rule).score  # 2 of 12 before: established
    0.0
    """
    items = [e.item for e in window]
    weights = [e.weight for e in window]
    cols = [e.col for e in window]
    removals = [e.removal for e in window]
    value, new, ref = judge(
        items, weights, cols, removals, profile=profile, total=total, consumed=consumed, rule=rule
    )
    sessions = [e.new_session for e in window]
    return Assessment(value, units(items, weights, cols, sessions, new=new, rule=rule), new, ref)


def judge(
    items: Sequence[str],
    weights: Sequence[float],
    cols: Sequence[int],
    removals: Sequence[float],
    *,
    profile: Sequence[float],
    total: float,
    consumed: int,
    rule: DriftRule,
) -> tuple[float, frozenset[int], dict[int, float]]:
    """:func:`assess` but the evidence units, on the window's columns: ``(score, new
    columns, reference)``.

    The reference of a column is its profile mass minus the window's removals (summed in
    window order), floored at 0; the reference total drops by what that takes off the
    positive mass. No column is new when the history outside the window (``consumed`` minus
    the window's distinct positive items) is below ``min_history`` or the reference empty.
    """
    removal: dict[int, float] = {}
    for col, amount in zip(cols, removals, strict=True):
        if col >= 0:
            removal[col] = removal.get(col, 0.0) + amount
    ref_total = total
    ref: dict[int, float] = {}
    for col, amount in removal.items():
        mass = profile[col]
        r = mass - amount
        r = 0.0 if r < 0.0 else r  # max(r, 0.0)
        ref_total -= (0.0 if mass < 0.0 else mass) - r
        ref[col] = r
    short = consumed - len(items) < rule.min_history  # else no window can make it short
    if ref_total <= 0.0 or (short and consumed - _distinct(items, weights) < rule.min_history):
        return 0.0, frozenset(), ref
    bound = rule.rare_share * ref_total
    new = frozenset([col for col, r in ref.items() if r < bound])
    if not new:
        return 0.0, new, ref
    recent_w, recent_c = weights[-rule.recent_events :], cols[-rule.recent_events :]
    weight = sum(recent_w)
    hit = sum([w for w, c in zip(recent_w, recent_c, strict=True) if c in new])
    return (hit / weight if weight > 0.0 else 0.0), new, ref


def _distinct(items: Sequence[str], weights: Sequence[float]) -> int:
    """The number of distinct items among the positive-weight entries."""
    return len({it for it, w in zip(items, weights, strict=True) if w > 0.0})


def units(
    items: Sequence[str],
    weights: Sequence[float],
    cols: Sequence[int],
    sessions: Sequence[bool],
    *,
    new: frozenset[int],
    rule: DriftRule,
) -> int:
    """Evidence units: distinct ``(item, session)`` pairs of positive entries in ``new``
    columns (the first entry never opens a session), plus one per ``repeat_events`` more."""
    seen: set[tuple[str, int]] = set()
    session = 0
    events = 0
    for k, (item, w, col, gap) in enumerate(zip(items, weights, cols, sessions, strict=True)):
        if k and gap:
            session += 1
        if col in new and w > 0.0:
            seen.add((item, session))
            events += 1
    return len(seen) + (events - len(seen)) // rule.repeat_events


def step(state: DriftState, a: Assessment, ts: int, rule: DriftRule) -> bool:
    """Advance ``state`` by one assessed event; ``True`` when an alert fires.

    ``score >= exit`` extends the streak, else the streak and any episode end. An alert
    fires when not in an episode, ``score >= enter``, ``units >= min_evidence`` and the last
    alert is at least ``cooldown_ms`` old; the episode then begins.

    >>> rule = DriftRule(0.6, 0.4, 0.1, 2, 0, 0, 3, 60, 8, 4)
    >>> st, low = DriftState(), Assessment(0.1, 0, frozenset(), {})
    >>> one, two = Assessment(1.0, 1, frozenset({1}), {}), Assessment(1.0, 2, frozenset({1}), {})
    >>> [step(st, a, t, rule) for t, a in enumerate([one, two, two, low, two])]
    [False, True, False, False, True]
    """
    if not advance(state, a.score, ts, rule) or a.units < rule.min_evidence:
        return False
    fire(state, ts)
    return True


def advance(state: DriftState, score: float, ts: int, rule: DriftRule) -> bool:
    """:func:`step` up to the evidence test: extend or end the streak; ``True`` when an alert
    fires given ``units >= min_evidence`` (the caller then counts them and calls :func:`fire`).
    """
    if score >= rule.exit:
        if state.streak == 0:
            state.streak_start_ts = ts
        state.streak += 1
    else:
        state.streak = 0
        state.streak_start_ts = -1
        state.in_episode = False
        return False
    return (
        not state.in_episode
        and score >= rule.enter
        and (state.last_alert_ts < 0 or ts - state.last_alert_ts >= rule.cooldown_ms)
    )


def fire(state: DriftState, ts: int) -> None:
    """An alert at ``ts``: the episode begins."""
    state.in_episode = True
    state.last_alert_ts = ts
