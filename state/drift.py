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

__all__ = ["Assessment", "DriftRule", "Entry", "assess", "step"]


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

    >>> rule = DriftRule(0.6, 0.4, 0.1, 2, 1, 0, 3, 60, 8, 4)
    >>> win = [Entry("a", 1.0, 1, 1.0, False), Entry("b", 1.0, 1, 1.0, True)]
    >>> a = assess(win, [10.0, 2.0], 12.0, 5, rule)
    >>> (a.score, a.units, sorted(a.new))
    (1.0, 2, [1])
    >>> assess(win, [10.0, 4.0], 14.0, 5, rule).score  # 2 of 12 before: established
    0.0
    """
    removal: dict[int, float] = {}
    items: set[str] = set()
    for e in window:
        if e.col >= 0:
            removal[e.col] = removal.get(e.col, 0.0) + e.removal
        if e.weight > 0.0:
            items.add(e.item)
    ref_total = total
    reference: dict[int, float] = {}
    for col, amount in removal.items():
        mass = profile[col]
        ref = max(mass - amount, 0.0)
        ref_total -= max(mass, 0.0) - ref
        reference[col] = ref
    if consumed - len(items) < rule.min_history or ref_total <= 0.0:
        return Assessment(0.0, 0, frozenset(), reference)
    bound = rule.rare_share * ref_total
    new = frozenset(col for col, ref in reference.items() if ref < bound)
    recent = window[-rule.recent_events :]
    weight = sum(e.weight for e in recent)
    hit = sum(e.weight for e in recent if e.col in new)
    score = hit / weight if weight > 0.0 else 0.0
    units: set[tuple[str, int]] = set()
    session = 0
    events = 0
    for k, e in enumerate(window):
        if k and e.new_session:
            session += 1
        if e.col in new and e.weight > 0.0:
            units.add((e.item, session))
            events += 1
    repeats = (events - len(units)) // rule.repeat_events
    return Assessment(score, len(units) + repeats, new, reference)


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
    if a.score >= rule.exit:
        if state.streak == 0:
            state.streak_start_ts = ts
        state.streak += 1
    else:
        state.streak = 0
        state.streak_start_ts = -1
        state.in_episode = False
        return False
    if (
        not state.in_episode
        and a.score >= rule.enter
        and a.units >= rule.min_evidence
        and (state.last_alert_ts < 0 or ts - state.last_alert_ts >= rule.cooldown_ms)
    ):
        state.in_episode = True
        state.last_alert_ts = ts
        return True
    return False
