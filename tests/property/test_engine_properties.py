"""Engine properties: arrival order does not matter, duplicates do nothing, codec round trips."""

from __future__ import annotations

import json
from functools import cache

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from state.codec import decode_user, encode_user
from state.store import CodecUserStore
from streams.core.engine import Engine
from streams.core.messages import Message
from streams.core.params import EngineParams
from tests.contract.encoder_doubles import HashingEncoder
from tests.unit.core.compare import assert_same_values

T0 = 1_704_067_200_000
ITEMS = [
    {"item_id": f"i{i}", "title": f"{w} thing {i}", "category": c}
    for i, (w, c) in enumerate(
        [
            ("red", "a/x"),
            ("red", "a/y"),
            ("blue", "b/x"),
            ("blue", "b"),
            ("green", "c/z/q"),
            ("green", "a/x"),
            ("red", "c/z"),
        ]
    )
]
TYPES = ["view", "click", "purchase", "rating", "dislike", "add_to_cart"]
PARAMS = EngineParams()
SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@cache
def _encoder() -> HashingEncoder:
    return HashingEncoder(32)


def _engine() -> Engine:
    eng = Engine(PARAMS, _encoder(), users=CodecUserStore())
    eng.apply_items([Message(json.dumps(i).encode()) for i in ITEMS])
    return eng


@st.composite
def streams(draw: st.DrawFn, types: list[str] = TYPES) -> list[Message]:
    n = draw(st.integers(1, 25))
    out = []
    for k in range(n):
        ev = {
            "event_id": f"e{k}",
            "user_id": draw(st.sampled_from(["u1", "u2", "u3"])),
            "item_id": draw(st.sampled_from([i["item_id"] for i in ITEMS])),
            "type": draw(st.sampled_from(types)),
            # within the allowed lateness (7 days), spread over several half-lives
            "ts": T0 + draw(st.integers(0, 3 * 24 * 3_600_000)),
        }
        if ev["type"] == "rating":
            ev["value"] = draw(st.integers(1, 5))
        if draw(st.booleans()) and k % 3 == 0:
            ev["text"] = draw(st.sampled_from(["red things", "blue", "green stuff"]))
        out.append(Message(json.dumps(ev).encode()))
    return out


POSITIVE = [t for t in TYPES if PARAMS.event_types[t].weight > 0]


@SETTINGS
@given(stream=streams(POSITIVE), seed=st.integers(0, 2**32 - 1), cut=st.integers(1, 30))
def test_shuffled_arrival_gives_the_same_state(stream: list[Message], seed: int, cut: int) -> None:
    """Float64 values agree to 1e-9 relative (positive weights: no cancellation)."""
    ordered, shuffled = _engine(), _engine()
    ordered.process(stream)
    perm = np.random.default_rng(seed).permutation(len(stream))
    other = [stream[i] for i in perm]
    for c0 in range(0, len(other), cut):
        shuffled.process(other[c0 : c0 + cut])
    t = T0 + 4 * 24 * 3_600_000
    for user in ("u1", "u2", "u3"):
        a, b = ordered.users.get(user), shuffled.users.get(user)
        assert (a is None) == (b is None)
        if a is not None and b is not None:
            assert_same_values(a, b, t, PARAMS.decay)
    ta = ordered.signals.trending
    tb = shuffled.signals.trending
    assert ta.t_ref is not None
    assert tb.t_ref is not None
    ta.grow(len(ITEMS))
    tb.grow(len(ITEMS))
    va = ta.pop[: len(ITEMS)] * 2.0 ** (-(t - ta.t_ref) / ta.half_life_ms)
    vb = tb.pop[: len(ITEMS)] * 2.0 ** (-(t - tb.t_ref) / tb.half_life_ms)
    assert np.allclose(va, vb, rtol=1e-9, atol=0.0)


@SETTINGS
@given(stream=streams(), seed=st.integers(0, 2**32 - 1))
def test_duplicates_change_nothing(stream: list[Message], seed: int) -> None:
    eng = _engine()
    eng.process(stream)
    before = {u: encode_user(s) for u in eng.users.user_ids() if (s := eng.users.get(u))}
    pop = eng.signals.trending.pop.copy()
    nbr = eng.signals.covis.nbr.copy()
    rng = np.random.default_rng(seed)
    again = [stream[i] for i in rng.integers(0, len(stream), size=len(stream))]
    res = eng.process(again)
    assert res.applied == 0
    assert res.duplicates == len(again)
    after = {u: encode_user(s) for u in eng.users.user_ids() if (s := eng.users.get(u))}
    assert after == before
    assert np.array_equal(eng.signals.trending.pop, pop)
    assert np.array_equal(eng.signals.covis.nbr, nbr)


@SETTINGS
@given(stream=streams())
def test_codec_round_trips_engine_states(stream: list[Message]) -> None:
    eng = _engine()
    eng.process(stream)
    for user in eng.users.user_ids():
        st_ = eng.users.get(user)
        assert st_ is not None
        data = encode_user(st_)
        assert encode_user(decode_user(data)) == data
