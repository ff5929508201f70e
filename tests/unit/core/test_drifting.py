"""The batched drift path equals stepping every event through the state machine."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from state.drift import DriftRule, step
from state.user import DriftState, UserState
from streams.core.arrays import EventArrays
from streams.core.drifting import _advance_streaks


@settings(max_examples=200, deadline=None)
@given(
    scores=st.lists(st.floats(0.0, 0.59), min_size=1, max_size=12),
    streak=st.integers(0, 3),
    in_episode=st.booleans(),
)
def test_vectorised_streaks_match_the_state_machine(
    scores: list[float], streak: int, in_episode: bool
) -> None:
    rule = DriftRule(enter=0.6, exit=0.4, min_evidence=2, cooldown_ms=0)
    ts = list(range(100, 100 + len(scores)))
    one = DriftState(in_episode, streak, 50 if streak else -1, -1)
    for s, t in zip(scores, ts, strict=True):
        assert step(one, s, t, rule) == 0  # nothing reaches enter
    other = UserState.new("u", 2)
    other.drift = DriftState(in_episode, streak, 50 if streak else -1, -1)
    n = len(scores)
    ea = EventArrays(
        seg=np.array([0, n]),
        user=np.zeros(n, np.int64),
        ts=np.array(ts, np.int64),
        row=np.zeros(n, np.int64),
        weight=np.ones(n),
        collab=np.ones(n),
        text=np.full(n, -1, np.int64),
    )
    _advance_streaks(ea, [other], np.array(scores) >= rule.exit, np.array([0]))
    assert other.drift == one
