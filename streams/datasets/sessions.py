"""Sessions: how each user's visits group into sessions, when they happen, which regime.

A user's visits are cut into sessions (a visit opens a new session with probability
``1 / session_length``; the first always does). Session start times are the user's sorted
uniform draws over ``span_ms`` plus ``SESSION_SPACING_MS`` per earlier session (sessions never
overlap), visits inside a session are spaced by exponential gaps (mean ``VISIT_GAP_MS``).

A user chosen to switch (``UserModel.drifts``) switches at session
``clip(round(switch_frac × n_sessions), 1, n_sessions - 2)`` if they have at least
``MIN_DRIFT_SESSIONS`` sessions — so at least one session before and two after the switch, a
lasting change rather than a one-off; otherwise they do not switch (``switch_session`` = -1).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from streams.datasets.sampling import IntArray
from streams.datasets.users import UserModel

__all__ = [
    "MIN_DRIFT_SESSIONS",
    "SESSION_SPACING_MS",
    "VISIT_GAP_MS",
    "SessionPlan",
    "plan_sessions",
]

SESSION_SPACING_MS = 6 * 3_600_000
VISIT_GAP_MS = 40_000.0
MIN_DRIFT_SESSIONS = 4
BoolArray = npt.NDArray[np.bool_]


@dataclass(frozen=True, slots=True)
class SessionPlan:
    """Visit-level (``visit_*``) and session-level (``session_*``) arrays, users sorted."""

    visit_user: IntArray
    visit_session: IntArray
    visit_ts: IntArray
    visit_first: BoolArray
    session_user: IntArray
    session_regime: IntArray
    switch_session: IntArray

    @property
    def n_sessions(self) -> int:
        """Number of sessions over all users."""
        return int(self.session_user.size)


def _segment_starts(counts: IntArray) -> IntArray:
    return np.cumsum(counts) - counts


def plan_sessions(
    users: UserModel,
    session_length: float,
    start_ms: int,
    span_ms: int,
    rng: np.random.Generator,
) -> SessionPlan:
    """Cut every user's visits into timed sessions (see the module docstring)."""
    if session_length < 1:
        raise ValueError(f"session_length must be >= 1, got {session_length}")
    n_visits = users.n_visits
    visit_user = np.repeat(np.arange(users.count), n_visits)
    pos = np.arange(visit_user.size) - np.repeat(_segment_starts(n_visits), n_visits)
    first = (pos == 0) | (rng.random(visit_user.size) < 1.0 / session_length)
    visit_session = np.cumsum(first) - 1
    session_user = visit_user[first]
    n_sess = np.bincount(session_user, minlength=users.count)
    sess_idx = np.arange(session_user.size) - np.repeat(_segment_starts(n_sess), n_sess)

    can_switch = users.drifts & (n_sess >= MIN_DRIFT_SESSIONS)
    frac = np.nan_to_num(users.switch_frac, nan=0.0)
    at = np.clip(np.rint(frac * n_sess), 1, np.maximum(n_sess - 2, 1)).astype(np.int64)
    switch_session = np.where(can_switch, at, -1)
    sw = switch_session[session_user]
    session_regime = ((sw >= 0) & (sess_idx >= sw)).astype(np.int64)

    draws = np.sort(session_user + rng.random(session_user.size)) - session_user
    session_start = start_ms + np.floor(draws * span_ms).astype(np.int64)
    session_start += sess_idx * SESSION_SPACING_MS
    gaps = np.where(first, 0.0, rng.exponential(VISIT_GAP_MS, visit_user.size))
    cum = np.cumsum(gaps)
    offset = cum - cum[first][visit_session]
    visit_ts = session_start[visit_session] + np.floor(offset).astype(np.int64)
    return SessionPlan(
        visit_user=visit_user,
        visit_session=visit_session,
        visit_ts=visit_ts,
        visit_first=first,
        session_user=session_user,
        session_regime=session_regime,
        switch_session=switch_session.astype(np.int64),
    )
