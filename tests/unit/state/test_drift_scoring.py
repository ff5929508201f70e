"""Drift assessment and state machine (:mod:`state.drift`); scoring and diversity helpers."""

from __future__ import annotations

import doctest

import numpy as np
import pytest

import state.diversity
import state.drift
import state.scoring
from state.diversity import category_cap, mmr
from state.drift import Assessment, DriftRule, Entry, assess, step
from state.scoring import category_scores, covis_scores
from state.user import DriftState

RULE = DriftRule(
    enter=0.8,
    exit=0.4,
    rare_share=0.05,
    min_evidence=3,
    min_history=2,
    cooldown_ms=100,
    recent_events=3,
    session_gap_ms=60,
    window=16,
    repeat_events=8,
)
HOME, SIDE, NEW = 0, 1, 2


def _e(item: str, col: int, *, w: float = 1.0, new_session: bool = False) -> Entry:
    return Entry(item, w, col, w, new_session)  # removal = weight: growth 1, scale 1


def _profile(home: float, side: float, new_mass: float) -> tuple[list[float], float]:
    masses = [home, side, new_mass]
    return masses, sum(masses)


def test_doctests() -> None:
    for mod in (state.drift, state.scoring, state.diversity):
        assert doctest.testmod(mod).failed == 0


def test_a_side_session_in_an_established_secondary_interest_is_not_drift() -> None:
    window = [_e("s1", SIDE), _e("s2", SIDE), _e("s3", SIDE)]
    # 3 of the side mass is the window's own; 2 of 22 remain before it: about 9 % > 5 %
    a = assess(window, *_profile(20.0, 5.0, 0.0), consumed=30, rule=RULE)
    assert a.score == 0.0
    assert a.new == frozenset()
    assert a.reference[SIDE] == pytest.approx(2.0)


def test_a_move_onto_a_new_category_scores_and_counts_items() -> None:
    window = [_e("n1", NEW), _e("n2", NEW), _e("n3", NEW)]
    a = assess(window, *_profile(20.0, 5.0, 3.0), consumed=30, rule=RULE)
    assert a.score == 1.0
    assert a.new == frozenset({NEW})
    assert a.units == 3


def test_a_category_rare_before_the_change_is_new_though_the_window_made_it_large() -> None:
    window = [_e(f"n{k}", NEW) for k in range(10)]
    # 10 of 11 in the new category come from the window: 1 of 26 before it (< 5 %)
    a = assess(window, *_profile(20.0, 5.0, 11.0), consumed=40, rule=RULE)
    assert a.new == frozenset({NEW})


def test_evidence_units_are_items_per_session_plus_repeats() -> None:
    same = [_e("x", NEW) for _ in range(5)]
    assert assess(same, *_profile(20.0, 0.0, 5.0), consumed=30, rule=RULE).units == 1
    later = [*same, _e("x", NEW, new_session=True)]
    assert assess(later, *_profile(20.0, 0.0, 6.0), consumed=30, rule=RULE).units == 2
    many = [_e("x", NEW) for _ in range(9)]
    assert assess(many, *_profile(20.0, 0.0, 9.0), consumed=30, rule=RULE).units == 2  # 1 + 8/8


def test_the_first_entry_never_opens_a_session() -> None:
    window = [_e("x", NEW, new_session=True), _e("x", NEW)]
    assert assess(window, *_profile(20.0, 0.0, 2.0), consumed=30, rule=RULE).units == 1


def test_a_young_profile_is_not_judged() -> None:
    window = [_e("n1", NEW), _e("n2", NEW), _e("n3", NEW)]
    # 4 consumed items, 3 of them in the window: 1 left < min_history 2
    a = assess(window, *_profile(2.0, 0.0, 3.0), consumed=4, rule=RULE)
    assert (a.score, a.units) == (0.0, 0)


def test_score_is_the_new_share_of_the_recent_events_weight() -> None:
    window = [_e("n1", NEW), _e("h1", HOME, w=0.5), _e("n2", NEW, w=2.0), _e("n3", NEW)]
    a = assess(window, *_profile(20.0, 0.0, 4.0), consumed=30, rule=RULE)
    assert a.score == pytest.approx(3.0 / 3.5)  # the last 3: 0.5 home, 2 + 1 new


def _hit(units: int, score: float = 1.0) -> Assessment:
    return Assessment(score, units, frozenset({NEW}), {})


def test_one_alert_per_episode_hysteresis_and_cooldown() -> None:
    st = DriftState()
    low, mid = _hit(0, 0.1), _hit(3, 0.5)
    fired = [step(st, a, t, RULE) for t, a in enumerate([_hit(1), _hit(2), _hit(3), mid, _hit(4)])]
    assert fired == [False, False, True, False, False]  # one alert; mid (>= exit) keeps it
    assert st.in_episode
    assert st.streak == 5
    assert st.streak_start_ts == 0
    assert not step(st, low, 5, RULE)  # below exit: the episode ends
    assert (st.streak, st.in_episode, st.streak_start_ts) == (0, False, -1)
    assert not step(st, _hit(3), 50, RULE)  # a new episode within the cooldown stays silent
    assert step(st, _hit(3), 102, RULE)  # past the cooldown the running streak alerts
    assert st.last_alert_ts == 102


def test_a_score_between_exit_and_enter_never_alerts() -> None:
    st = DriftState()
    assert not any(step(st, _hit(9, 0.6), t, RULE) for t in range(10))
    assert st.streak == 10


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
