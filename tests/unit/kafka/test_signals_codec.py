from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from state.signals import SignalDeltas
from streams.kafka.signals_codec import (
    SignalCodecError,
    decode_deltas,
    encode_deltas,
    split_deltas,
)

ids = st.text(
    alphabet=st.characters(blacklist_characters="\n", blacklist_categories=["Cs"]),
    min_size=1,
    max_size=12,
)


@st.composite
def deltas(draw: st.DrawFn) -> SignalDeltas:
    items = tuple(draw(st.lists(ids, min_size=1, max_size=8, unique=True)))
    n = len(items)
    n_pop = draw(st.integers(0, 10))
    n_pairs = draw(st.integers(0, 30))
    w = st.floats(0, 1e6, allow_nan=False)
    return SignalDeltas(
        t_ref=draw(st.integers(-(2**62), 2**62)),
        items=items,
        pop_item=np.array(
            draw(st.lists(st.integers(0, n - 1), min_size=n_pop, max_size=n_pop)), dtype=np.int64
        ),
        pop_w=np.array(draw(st.lists(w, min_size=n_pop, max_size=n_pop)), dtype=np.float64),
        pair_a=np.array(
            draw(st.lists(st.integers(0, n - 1), min_size=n_pairs, max_size=n_pairs)),
            dtype=np.int64,
        ),
        pair_b=np.array(
            draw(st.lists(st.integers(0, n - 1), min_size=n_pairs, max_size=n_pairs)),
            dtype=np.int64,
        ),
        pair_w=np.array(draw(st.lists(w, min_size=n_pairs, max_size=n_pairs)), dtype=np.float64),
    )


def _same(a: SignalDeltas, b: SignalDeltas) -> None:
    assert a.t_ref == b.t_ref
    assert a.items == b.items
    for name in ("pop_item", "pop_w", "pair_a", "pair_b", "pair_w"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))


@given(deltas())
def test_round_trip_is_exact(d: SignalDeltas) -> None:
    _same(decode_deltas(encode_deltas(d)), d)


@given(deltas(), st.integers(1, 7))
def test_split_parts_add_up(d: SignalDeltas, max_pairs: int) -> None:
    parts = split_deltas(d, max_pairs)
    assert all(len(p.pair_a) <= max_pairs for p in parts)
    np.testing.assert_array_equal(np.concatenate([p.pair_a for p in parts]), d.pair_a)
    np.testing.assert_array_equal(np.concatenate([p.pair_w for p in parts]), d.pair_w)
    np.testing.assert_array_equal(np.concatenate([p.pop_w for p in parts]), d.pop_w)


def test_garbage_is_refused() -> None:
    with pytest.raises(SignalCodecError):
        decode_deltas(b"not a record at all")
    raw = encode_deltas(
        SignalDeltas(t_ref=1, items=("a",), pop_item=np.array([0]), pop_w=np.array([1.0]))
    )
    with pytest.raises(SignalCodecError):
        decode_deltas(raw[:-3])
