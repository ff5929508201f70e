"""Interest drift: per-event scores (vectorised) and the per-user alert state machine.

The score of a user after an event compares the short-term and long-term interests::

    score = vector_weight · clip(1 − cos(short, long), 0, 1)
          + (1 − vector_weight) · TV(p_short, p_long)

where ``p`` are the distributions of positive mass over the categories of one level and
``TV`` is their total-variation distance. Both parts are scale-free, so they can be computed
on stored (un-decayed) sums. The state machine adds minimum evidence, hysteresis (``enter`` >
``exit``) and a cooldown, and emits one alert per episode; see :func:`step`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from state.user import DriftState

__all__ = ["DriftRule", "drift_scores", "step"]

F64 = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class DriftRule:
    """Thresholds of the state machine (a plain copy of the engine's drift parameters)."""

    enter: float
    exit: float
    min_evidence: int
    cooldown_ms: int
    min_span_ms: int = 0
    """The change must have lasted this long in event time (e.g. across a session gap)."""


def drift_scores(
    short: F64, long: F64, p_short: F64, p_long: F64, vector_weight: float
) -> tuple[F64, F64]:
    """``(score, cosine)`` per row of ``(n, dim)`` vectors and ``(n, c)`` category masses.

    Negative category masses count as zero; a row without positive mass has ``TV = 0``.

    >>> s = np.array([[1.0, 0.0]]); l = np.array([[0.0, 1.0]])
    >>> score, cos = drift_scores(s, l, np.array([[1.0, 0.0]]), np.array([[0.0, 1.0]]), 0.5)
    >>> float(score[0]), float(cos[0])
    (1.0, 0.0)
    """
    dot = np.einsum("ij,ij->i", short, long)
    norm = np.sqrt(np.einsum("ij,ij->i", short, short) * np.einsum("ij,ij->i", long, long))
    cos = np.divide(dot, norm, out=np.ones_like(dot), where=norm > 0.0)
    ps, pl = np.maximum(p_short, 0.0), np.maximum(p_long, 0.0)
    ts, tl = ps.sum(axis=1, keepdims=True), pl.sum(axis=1, keepdims=True)
    ok = (ts[:, 0] > 0.0) & (tl[:, 0] > 0.0)
    ps = np.divide(ps, ts, out=np.zeros_like(ps), where=ts > 0.0)
    pl = np.divide(pl, tl, out=np.zeros_like(pl), where=tl > 0.0)
    tv = np.where(ok, 0.5 * np.abs(ps - pl).sum(axis=1), 0.0)
    vec = np.clip(1.0 - cos, 0.0, 1.0)
    return vector_weight * vec + (1.0 - vector_weight) * tv, cos


def step(state: DriftState, score: float, ts: int, rule: DriftRule) -> int:
    """Advance ``state`` by one event; the evidence (> 0) when an alert fires, else 0.

    * ``score >= exit`` extends the streak (the change's evidence), else the streak and any
      episode end (hysteresis: an episode only ends below ``exit``).
    * An alert fires when not in an episode, ``score >= enter``, ``streak >= min_evidence``,
      the streak has lasted ``min_span_ms`` and the last alert is at least ``cooldown_ms`` old;
      the episode then begins.

    >>> st, rule = DriftState(), DriftRule(0.5, 0.3, 2, 0)
    >>> [step(st, s, t, rule) for t, s in enumerate([0.1, 0.6, 0.7, 0.8, 0.4, 0.2, 0.6, 0.6])]
    [0, 0, 2, 0, 0, 0, 0, 2]
    """
    if score >= rule.exit:
        if state.streak == 0:
            state.streak_start_ts = ts
        state.streak += 1
    else:
        state.streak = 0
        state.streak_start_ts = -1
        state.in_episode = False
    if (
        not state.in_episode
        and score >= rule.enter
        and state.streak >= rule.min_evidence
        and ts - state.streak_start_ts >= rule.min_span_ms
        and (state.last_alert_ts < 0 or ts - state.last_alert_ts >= rule.cooldown_ms)
    ):
        state.in_episode = True
        state.last_alert_ts = ts
        return state.streak
    return 0
