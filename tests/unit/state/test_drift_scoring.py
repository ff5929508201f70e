"""Drift scores and state machine; scoring and diversity helpers."""

from __future__ import annotations

import doctest

import numpy as np
import pytest

import state.diversity
import state.drift
import state.scoring
from state.diversity import category_cap, mmr
from state.drift import DriftRule, drift_scores, step
from state.scoring import category_scores, covis_scores
from state.user import DriftState


def test_doctests() -> None:
    for mod in (state.drift, state.scoring, state.diversity):
        assert doctest.testmod(mod).failed == 0


def test_scores_are_scale_free() -> None:
    rng = np.random.default_rng(1)
    s, lv = rng.normal(size=(4, 5)), rng.normal(size=(4, 5))
    p, q = rng.random((4, 3)), rng.random((4, 3))
    a, ca = drift_scores(s, lv, p, q, 0.4)
    b, cb = drift_scores(3 * s, 0.1 * lv, 7 * p, 0.5 * q, 0.4)
    assert np.allclose(a, b)
    assert np.allclose(ca, cb)
    same, _ = drift_scores(s, s, p, p, 0.4)
    assert np.allclose(same, 0.0)


def test_min_evidence_cooldown_and_one_alert_per_episode() -> None:
    rule = DriftRule(enter=0.5, exit=0.3, min_evidence=3, cooldown_ms=100)
    st = DriftState()
    fired = [step(st, s, t, rule) for t, s in enumerate([0.9, 0.9, 0.9, 0.9, 0.9])]
    assert fired == [0, 0, 3, 0, 0]
    assert st.in_episode
    # the episode ends below exit; a new one within the cooldown stays silent
    fired = [
        step(st, s, t, rule) for t, s in zip(range(5, 10), [0.1, 0.9, 0.9, 0.9, 0.9], strict=True)
    ]
    assert fired == [0, 0, 0, 0, 0]
    assert step(st, 0.9, 102, rule) == 5  # past the cooldown, the same streak alerts


def test_hysteresis_keeps_the_episode_between_thresholds() -> None:
    rule = DriftRule(enter=0.5, exit=0.3, min_evidence=1, cooldown_ms=0)
    st = DriftState()
    assert [step(st, s, t, rule) for t, s in enumerate([0.6, 0.4, 0.6, 0.2, 0.6])] == [
        1,
        0,
        0,
        0,
        1,
    ]


def test_covis_scores_pick_the_best_source() -> None:
    nbr = np.array([[5, 6], [6, -1]], np.int32)
    w = np.array([[1.0, 1.0], [4.0, 0.0]])
    deg = np.ones(10)
    rows, score, best = covis_scores(
        nbr, w, np.array([1.0, 1.0]), deg_src=np.ones(2), deg=deg, beta=0.5
    )
    assert rows.tolist() == [5, 6]
    assert score.tolist() == pytest.approx([1.0, 5.0])
    assert best.tolist() == [0, 1]


def test_category_scores_weight_levels() -> None:
    nodes = np.array([[0, 1], [0, -1], [2, 3]], np.int32)
    shares = np.array([1.0, 0.5, 0.0, 0.0])
    got = category_scores(nodes, shares, (1.0, 3.0))
    assert got.tolist() == pytest.approx([(1.0 + 1.5) / 4, 0.25, 0.0])


def test_category_cap_fills_up_when_short() -> None:
    order = np.array([0, 1, 2], np.int64)
    cats = np.array([1, 1, 1], np.int64)
    assert category_cap(order, cats, cap=1, k=2).tolist() == [0, 1]


def test_mmr_prefers_diverse_items() -> None:
    v = np.array([[1, 0], [1, 0], [0, 1]], np.float32)
    picked = mmr(np.array([1.0, 0.99, 0.8]), v, 2, lam=0.5)
    assert picked.tolist() == [0, 2]
