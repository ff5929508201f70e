"""Drift after every applied event, for all users of a batch at once; alerts per episode.

The short and long sums after each event are prefix sums of the per-event amounts (computed
with one ``cumsum`` over the whole batch, each user's amounts first scaled to order one so the
shared prefix sum loses no precision that matters), on the vectors' sketches (a fixed random
projection, :attr:`state.catalog.Catalog.projection`: approximate cosines at a tenth of the
cost); the category masses at ``drift.level`` likewise. An alert reports the exact cosine.
Scores come from :func:`state.drift.drift_scores`; users with an event at or above ``enter``
run the sequential :func:`state.drift.step`, the others' streaks advance in one pass (the same
result: without ``enter`` no alert can fire).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from state.catalog import Catalog
from state.drift import DriftRule, drift_scores, step
from state.user import UserState
from streams.core.arrays import EventArrays
from streams.core.interests import Contributions
from streams.core.outputs import DriftAlert, Severity
from streams.core.params import DriftParams

__all__ = ["detect_drift"]

F64 = npt.NDArray[np.float64]
F32 = npt.NDArray[np.float32]
I64 = npt.NDArray[np.int64]


def _prefix(weights: F64, x: F32 | F64, before: F64, ea: EventArrays) -> F64:
    """Per-event running sums ``before[u] + Σ_{j ≤ i} weights[j]·x[j]`` within each user.

    Each user's terms are scaled by ``1 / max |weight|`` (cosines and shares are scale-free).
    """
    starts = ea.seg[:-1]
    scale = 1.0 / np.maximum(np.maximum.reduceat(np.abs(weights), starts), 1e-300)
    a = (weights * scale[ea.user])[:, None] * x
    cum = np.cumsum(a, axis=0)
    base = cum[starts] - a[starts]
    out: F64 = (before * scale[:, None])[ea.user] + cum - base[ea.user]
    return out


def _exact_cosine(c: Contributions, ea: EventArrays, u: int, i: int) -> float:
    a = int(ea.seg[u])
    s = c.short_before[u] + c.short[a : i + 1] @ c.vectors[a : i + 1]
    lv = c.long_before[u] + c.long[a : i + 1] @ c.vectors[a : i + 1]
    norm = float(np.linalg.norm(s) * np.linalg.norm(lv))
    return float(np.dot(s, lv) / norm) if norm > 0.0 else 1.0


def _category_masses(
    ea: EventArrays, states: Sequence[UserState], catalog: Catalog, level: int
) -> tuple[list[str], F64, F64, I64]:
    """Local vocabulary of level-``level`` nodes, users' masses before (short, long), event col."""
    vocab: dict[str, int] = {}
    rows = np.where(ea.row >= 0, ea.row, 0)
    ev_node = catalog.nodes[rows, level - 1] if level <= catalog.max_depth else np.full(ea.n, -1)
    ev_node = np.where(ea.row >= 0, ev_node, -1)
    uniq = np.unique(ev_node[ev_node >= 0]).tolist()
    for nd in uniq:
        vocab.setdefault(catalog.categories.name(nd), len(vocab))
    for st in states:
        if len(st.categories) >= level:
            for name in st.categories[level - 1]:
                vocab.setdefault(name, len(vocab))
    ps = np.zeros((len(states), max(len(vocab), 1)))
    pl = np.zeros_like(ps)
    for u, st in enumerate(states):
        if len(st.categories) >= level:
            for name, (a, b) in st.categories[level - 1].items():
                ps[u, vocab[name]] = a
                pl[u, vocab[name]] = b
    lut = np.full(max(len(catalog.categories), 1), -1, np.int64)
    for nd in uniq:
        lut[nd] = vocab[catalog.categories.name(nd)]
    col = np.where(ev_node >= 0, lut[np.maximum(ev_node, 0)], -1)
    return list(vocab), ps, pl, col


def _advance_streaks(
    ea: EventArrays, states: Sequence[UserState], above_exit: npt.NDArray[np.bool_], users: I64
) -> None:
    """What :func:`state.drift.step` does to users none of whose events reach ``enter``."""
    if len(users) == 0:
        return
    idx = np.arange(ea.n)
    last_below = np.maximum.reduceat(np.where(above_exit, -1, idx), ea.seg[:-1])
    ts = ea.ts
    for u in users.tolist():
        d = states[u].drift
        a, b = int(ea.seg[u]), int(ea.seg[u + 1])
        lb = int(last_below[u])
        if lb < a:  # every event stays above exit: the streak goes on
            if d.streak == 0:
                d.streak_start_ts = int(ts[a])
            d.streak += b - a
        else:
            d.streak = b - lb - 1
            d.streak_start_ts = int(ts[lb + 1]) if d.streak else -1
            d.in_episode = False


def _severity(score: float, p: DriftParams) -> Severity:
    if score >= p.severity_high:
        return "high"
    return "medium" if score >= p.severity_medium else "low"


def _top(names: list[str], masses: F64, n: int) -> tuple[str, ...]:
    order = sorted(
        (i for i in range(len(names)) if masses[i] > 0.0), key=lambda i: (-masses[i], names[i])
    )
    return tuple(names[i] for i in order[:n])


def detect_drift(
    ea: EventArrays,
    states: Sequence[UserState],
    catalog: Catalog,
    c: Contributions,
    p: DriftParams,
) -> list[DriftAlert]:
    """Score every applied event, advance the state machines, return the alerts."""
    n_before = np.fromiter((s.n_events for s in states), np.int64, len(states))
    position = np.arange(ea.n) - ea.seg[:-1][ea.user]
    eligible = n_before[ea.user] + position + 1 >= p.min_history
    active = np.fromiter(
        (s.drift.streak > 0 or s.drift.in_episode for s in states), bool, len(states)
    )
    if not eligible.any() and not active.any():
        return []
    names, ps0, pl0, col = _category_masses(ea, states, catalog, p.level)
    one_hot = np.zeros((ea.n, ps0.shape[1]))
    has = col >= 0
    one_hot[np.flatnonzero(has), col[has]] = 1.0
    proj = catalog.projection.astype(np.float64)
    sk = _prefix(c.short, c.sketches, c.short_before @ proj, ea)
    lk = _prefix(c.long, c.sketches, c.long_before @ proj, ea)
    pk = _prefix(c.short, one_hot, ps0, ea)
    qk = _prefix(c.long, one_hot, pl0, ea)
    score, _cos = drift_scores(sk, lk, pk, qk, p.vector_weight)
    score = np.where(eligible, score, 0.0)
    hot = np.zeros(len(states), bool)
    hot[np.unique(ea.user[score >= p.exit])] = True
    may_alert = np.zeros(len(states), bool)
    may_alert[np.unique(ea.user[score >= p.enter])] = True
    _advance_streaks(ea, states, score >= p.exit, np.flatnonzero((hot | active) & ~may_alert))
    rule = DriftRule(p.enter, p.exit, p.min_evidence, p.cooldown_ms, p.min_span_ms)
    alerts: list[DriftAlert] = []
    ts = ea.ts.tolist()
    for u in np.flatnonzero(may_alert).tolist():
        st = states[u]
        for i in range(int(ea.seg[u]), int(ea.seg[u + 1])):
            evidence = step(st.drift, float(score[i]), ts[i], rule)
            if evidence:
                alerts.append(
                    DriftAlert(
                        user_id=st.user_id,
                        ts=ts[i],
                        score=float(min(max(score[i], 0.0), 1.0)),
                        severity=_severity(float(score[i]), p),
                        from_categories=_top(names, qk[i], p.top_categories),
                        to_categories=_top(names, pk[i], p.top_categories),
                        similarity=float(np.clip(_exact_cosine(c, ea, u, i), -1.0, 1.0)),
                        evidence=evidence,
                    )
                )
    return alerts
