"""Drift alerts and user states do not depend on how the event stream is cut into batches.

The worker cuts batches by size and time, replay by line count: both must publish the same
alerts. Generated streams (planted switches, side interests, late and duplicate events) are
replayed with several batch sizes (and random cuts) and must give the same alerts (user,
ts, from, to, severity, evidence; score and similarity within 1e-9) and the same final user
states, drift state included. The hashing twin stands in for the encoder: drift reads
categories, the vectors only feed the alert's similarity.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from state.drift import Entry, assess
from streams.core import drifting
from streams.core.drift_inputs import DriftInputs, prepare_inputs
from streams.core.engine import Engine
from streams.core.messages import Message
from streams.core.outputs import DriftAlert
from streams.core.params import EngineParams
from streams.datasets import GeneratorParams, generate
from streams.datasets.records import event_records, item_records
from tests.contract.encoder_doubles import HashingEncoder
from tests.unit.core.compare import assert_same_values


@dataclass(frozen=True, slots=True)
class Stream:
    items: list[Message]
    events: list[Message]


@cache
def _stream(seed: int, users: int) -> Stream:
    ds = generate(
        GeneratorParams(users=users, items=300, seed=seed, drift_fraction=0.3, events_per_user=40)
    )
    items = [Message(json.dumps(r).encode()) for r in item_records(ds)]
    events = [Message(json.dumps(r).encode(), topic="events") for r in event_records(ds)]
    return Stream(items, events)


def _replay(stream: Stream, cuts: Sequence[int]) -> tuple[list[DriftAlert], Engine]:
    """Replay with batch sizes ``cuts`` (the last one repeats)."""
    eng = Engine(EngineParams(), HashingEncoder(32))
    eng.apply_items(stream.items)
    alerts: list[DriftAlert] = []
    start, k = 0, 0
    while start < len(stream.events):
        size = cuts[min(k, len(cuts) - 1)]
        alerts += eng.process(stream.events[start : start + size], recommend=False).alerts
        start, k = start + size, k + 1
    return alerts, eng


def _key(a: DriftAlert) -> tuple[object, ...]:
    return (a.user_id, a.ts, a.from_categories, a.to_categories, a.severity, a.evidence)


def _assert_same_alerts(got: list[DriftAlert], want: list[DriftAlert]) -> None:
    assert sorted(map(_key, got)) == sorted(map(_key, want))
    by_key = {_key(a): a for a in want}
    for a in got:
        b = by_key[_key(a)]
        assert a.score == pytest.approx(b.score, abs=1e-9)
        assert a.similarity == pytest.approx(b.similarity, abs=1e-9)


def _assert_same_states(got: Engine, want: Engine) -> None:
    users = sorted(want.users.user_ids())
    assert sorted(got.users.user_ids()) == users
    t = max(want.watermark_ms, 0)
    for u in users:
        a, b = got.users.get(u), want.users.get(u)
        assert a is not None
        assert b is not None
        assert_same_values(a, b, t, want.params.decay)
        assert a.drift == b.drift, u
        assert (a.recent_items, a.recent_ts, a.recent_w) == (
            b.recent_items,
            b.recent_ts,
            b.recent_w,
        )
        assert (a.event_ids, a.offsets) == (b.event_ids, b.offsets)


@pytest.mark.parametrize("seed", [1, 5])
def test_batch_sizes_give_the_same_alerts_and_states(seed: int) -> None:
    stream = _stream(seed, 50)
    want, ref = _replay(stream, [5000])
    assert len(want) >= 5, "the stream should raise alerts"
    for size in (1, 7, 64):
        got, eng = _replay(stream, [size])
        _assert_same_alerts(got, want)
        _assert_same_states(eng, ref)


@settings(max_examples=6, deadline=None)
@given(cuts=st.lists(st.integers(1, 400), min_size=1, max_size=12))
def test_random_batch_cuts_give_the_same_alerts_and_states(cuts: list[int]) -> None:
    stream = _stream(3, 30)
    want, ref = _replay(stream, [len(stream.events)])
    got, eng = _replay(stream, cuts)
    _assert_same_alerts(got, want)
    _assert_same_states(eng, ref)


def test_the_vectorised_one_event_check_is_assess_of_a_one_event_window(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Users skipped by the fast path are exactly those for whom nothing can happen."""
    seen: list[DriftInputs] = []

    def spy(*args: Any, **kwargs: Any) -> DriftInputs:
        d = prepare_inputs(*args, **kwargs)
        seen.append(d)
        return d

    monkeypatch.setattr(drifting, "prepare_inputs", spy)
    _replay(_stream(1, 50), [512])
    rule = drifting.drift_rule(EngineParams())
    opened = 0
    for d in seen:
        for i in range(len(d.ts)):
            window = [Entry(d.items[i], d.collab[i], d.col[i], d.removal[i], False)]
            a = assess(window, d.profile[i].tolist(), d.total[i], d.consumed[i], rule)
            assert (a.score >= rule.exit) == bool(d.opens[i]), i
            opened += bool(d.opens[i])
    assert opened > 0
