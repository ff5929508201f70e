"""Drift alerts for all users of a batch, exactly as if their events arrived one at a time.

The per-event numbers come from numpy over the whole batch
(:func:`streams.core.drift_inputs.prepare_inputs`); the per-user state machine
(:func:`state.drift.assess`, :func:`state.drift.step`) then runs in arrival order, only for
users where something can happen: a streak or episode already running, or an event whose
category is new to the profile on its own. For every other user nothing changes.

A running streak's earlier events come from the recent-item memory, its profile from the
category sums, so the outcome does not depend on where batches start or end (up to float
rounding: ~1e-12 relative in the scores; a decision can only differ for a value within that
distance of a threshold).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np

from state.catalog import Catalog
from state.drift import (
    Assessment,
    DriftRule,
    Entry,
    advance,
    assess,
    fire,
    judge,
    units,
)
from state.user import UserState
from streams.core.arrays import EventArrays
from streams.core.drift_inputs import DriftInputs, StreakMemory, prepare_inputs
from streams.core.interests import Contributions
from streams.core.outputs import DriftAlert, Severity
from streams.core.params import DriftParams, EngineParams

__all__ = ["cosine", "detect_drift", "drift_rule"]


def drift_rule(params: EngineParams) -> DriftRule:
    """The state machine's rule: ``params.drift``, the window capped by what the recent-item
    memory holds (``limits.max_recent`` earlier events)."""
    p = params.drift
    return DriftRule(
        enter=p.enter,
        exit=p.exit,
        rare_share=p.rare_share,
        min_evidence=p.min_evidence,
        min_history=p.min_history,
        cooldown_ms=p.cooldown_ms,
        recent_events=p.recent_events,
        session_gap_ms=p.session_gap_ms,
        window=min(p.window, params.limits.max_recent + 1),
        repeat_events=p.repeat_events,
    )


def _severity(score: float, p: DriftParams) -> Severity:
    if score >= p.severity_high:
        return "high"
    return "medium" if score >= p.severity_medium else "low"


def _top(names: list[str], masses: dict[int, float], n: int, floor: float) -> tuple[str, ...]:
    """The ``n`` largest masses above ``floor`` (ties by name)."""
    order = sorted(
        (k for k, m in masses.items() if m > floor), key=lambda k: (-masses[k], names[k])
    )
    return tuple(names[k] for k in order[:n])


def _exact_cosine(c: Contributions, ea: EventArrays, u: int, i: int) -> float:
    """cos(short, long) after event ``i`` (user ``u``), on the full vectors."""
    a = int(ea.seg[u])
    x = c.vectors(slice(a, i + 1))
    s = c.short_before[u] + c.short[a : i + 1] @ x
    lv = c.long_before[u] + c.long[a : i + 1] @ x
    return cosine(s, lv)


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    """cos(a, b), 1.0 when either is zero. Each is scaled to a largest entry of 1 first: the
    vectors are kept relative to the batch's reference time, so an event hundreds of
    half-lives before it has entries near 1e-180, whose squares underflow to 0 (the cosine
    read 1.0 for such an event in a long batch, its true value in shorter ones)."""
    peak_a, peak_b = float(np.max(np.abs(a))), float(np.max(np.abs(b)))
    if peak_a == 0.0 or peak_b == 0.0:
        return 1.0
    a, b = a / peak_a, b / peak_b
    norm = float(np.linalg.norm(a) * np.linalg.norm(b))
    return float(np.clip(np.dot(a, b) / norm, -1.0, 1.0))


def _alert(
    st: UserState,
    i: int,
    a: Assessment,
    window: Sequence[Entry],
    *,
    d: DriftInputs,
    cos: float,
    p: DriftParams,
) -> DriftAlert:
    """``from``: the reference profile's top established categories (masses below 1e-9 of
    the profile are rounding residue of the window's removal); ``to``: the window's new ones."""
    before = {k: m for k, m in enumerate(d.profile[i].tolist()) if k not in a.new}
    before.update((k, m) for k, m in a.reference.items() if k not in a.new)
    floor = 1e-9 * d.total[i]
    to: dict[int, float] = {}
    for e in window:
        if e.col in a.new:
            to[e.col] = to.get(e.col, 0.0) + e.weight
    return DriftAlert(
        user_id=st.user_id,
        ts=d.ts[i],
        score=a.score,
        severity=_severity(a.score, p),
        from_categories=_top(d.names, before, p.top_categories, floor),
        to_categories=_top(d.names, to, p.top_categories, 0.0),
        similarity=cos,
        evidence=st.drift.streak,
    )


def detect_drift(
    ea: EventArrays,
    states: Sequence[UserState],
    catalog: Catalog,
    c: Contributions,
    params: EngineParams,
) -> list[DriftAlert]:
    """Assess every applied event, advance the users' drift state, return the alerts.

    Call after :func:`streams.core.interests.contributions` (stored amounts; users rebased)
    and before ``apply_interests``/``apply_memories`` (it reads the state as it was before
    the batch). Mutates only ``states[u].drift``. Alerts in user order, then arrival order;
    ``evidence`` is the number of events since the change began (the streak).
    """
    rule = drift_rule(params)
    d = prepare_inputs(ea, states, catalog, c, params=params, rule=rule)
    at = np.flatnonzero(d.opens)
    hot, first = np.unique(ea.user[at], return_index=True)
    begin = dict(zip(hot.tolist(), at[first].tolist(), strict=True))  # a user's first opening
    seg = ea.seg.tolist()
    for u in d.running:
        begin[u] = seg[u]
    scan = _Scanner(d, rule, d.opens.tolist())
    alerts: list[DriftAlert] = []
    for u in sorted(begin):
        for i, a, window in scan(states[u], d.memory.get(u), seg[u], begin[u], seg[u + 1]):
            cos = _exact_cosine(c, ea, u, i)
            alerts.append(_alert(states[u], i, a, window, d=d, cos=cos, p=params.drift))
    return alerts


class _Scanner:
    """The per-user state machine over a user's events, in arrival order.

    Entries are kept as columns (the streak's remembered events first); a window's score
    runs only the steps of :func:`state.drift.assess` it needs, its evidence units only
    when an alert may fire, and a one-event window (a streak's first event: ``opens``)
    scores 1 without them. A firing window is judged again by ``assess`` for the alert.
    """

    def __init__(self, d: DriftInputs, rule: DriftRule, opens: list[bool]) -> None:
        self.d = d
        self.rule = rule
        self.opens = opens

    def __call__(
        self, st: UserState, memory: StreakMemory | None, lo: int, begin: int, end: int
    ) -> Iterator[tuple[int, Assessment, list[Entry]]]:
        """``(event, assessment, window)`` of each alert of events ``begin:end`` (the
        user's events start at ``lo``); advances ``st.drift``."""
        d, rule, opens, ts = self.d, self.rule, self.opens, self.d.ts
        m = memory or StreakMemory([], [], [], [], [])
        items, weights, cols = list(m.items), list(m.weights), list(m.cols)
        removals, sessions = list(m.removals), list(m.sessions)
        last = st.recent_ts[-1] if st.recent_ts else None
        state = st.drift
        for i in range(begin, end):
            streak = state.streak
            if streak == 0 and not opens[i]:
                continue  # its one-event window scores 0: no streak, nothing changes
            t = ts[i]
            prev = ts[i - 1] if i > lo else last
            items.append(d.items[i])
            weights.append(d.collab[i])
            cols.append(d.col[i])
            removals.append(d.removal[i])
            sessions.append(prev is not None and t - prev >= rule.session_gap_ms)
            a = len(items) - min(streak + 1, rule.window)
            if streak == 0:  # the one-event window of an opening event
                value, new = 1.0, frozenset(cols[a:])
            else:
                value, new, _ = judge(
                    items[a:],
                    weights[a:],
                    cols[a:],
                    removals[a:],
                    profile=d.profile[i].tolist(),
                    total=d.total[i],
                    consumed=d.consumed[i],
                    rule=rule,
                )
            if not advance(state, value, t, rule):
                continue
            if units(items[a:], weights[a:], cols[a:], sessions[a:], new=new, rule=rule) < (
                rule.min_evidence
            ):
                continue
            columns = zip(items[a:], weights[a:], cols[a:], removals[a:], sessions[a:], strict=True)
            window = [Entry(*e) for e in columns]
            fire(state, t)
            yield i, assess(window, d.profile[i].tolist(), d.total[i], d.consumed[i], rule), window
