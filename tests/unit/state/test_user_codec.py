"""UserState behaviour and the versioned codec (round trip, corruption, versions)."""

from __future__ import annotations

import numpy as np
import pytest

from state.codec import decode_user, encode_user
from state.errors import StateCodecError
from state.user import UserState


def _state() -> UserState:
    st = UserState.new("user-é", 4)
    st.short[:] = [1.0, 2.0, 3.0, 4.0]
    st.long[:] = [0.5, 0.0, -1.0, 1e-300]
    st.t_ref, st.watermark, st.n_events = 1_000, 2_000, 7
    st.add_category(1, "sports", 1.0, 2.0)
    st.add_category(2, "sports/shoes", 0.5, 1.5)
    st.add_category(1, "home", -0.25, 0.5)
    st.recent_items, st.recent_ts, st.recent_w = ["a", "b"], [1_500, 2_000], [1.0, 0.5]
    st.consumed = dict.fromkeys(["a", "b"])
    st.disliked = dict.fromkeys(["c"])
    st.event_ids = dict.fromkeys(["e1", "e2"])
    st.offsets = {"events/3": 42}
    st.drift.streak, st.drift.streak_start_ts, st.drift.last_alert_ts = 2, 1_800, 900
    return st


def _same(a: UserState, b: UserState) -> None:
    assert a.user_id == b.user_id
    assert np.array_equal(a.short, b.short)
    assert np.array_equal(a.long, b.long)
    for name in (
        "t_ref",
        "watermark",
        "n_events",
        "categories",
        "recent_items",
        "recent_ts",
        "recent_w",
        "consumed",
        "disliked",
        "event_ids",
        "offsets",
        "drift",
    ):
        assert getattr(a, name) == getattr(b, name), name


def test_round_trip() -> None:
    st = _state()
    _same(decode_user(encode_user(st)), st)


def test_every_flipped_byte_is_detected_with_the_user() -> None:
    data = encode_user(_state())
    for i in range(len(data)):
        bad = bytearray(data)
        bad[i] ^= 0x40
        with pytest.raises(StateCodecError):
            decode_user(bytes(bad), key="fallback")


def test_every_truncation_and_any_extra_byte_is_refused() -> None:
    data = encode_user(_state())
    for cut in range(len(data)):
        with pytest.raises(StateCodecError):
            decode_user(data[:cut], key="fallback")
    with pytest.raises(StateCodecError):
        decode_user(data + b"\0", key="fallback")


def test_decoded_values_have_the_python_types_the_engine_uses() -> None:
    got = decode_user(encode_user(_state()))
    assert got.short.dtype == np.float64
    assert got.short.flags.writeable  # its own array, not a view of the bytes
    assert all(type(t) is int for t in got.recent_ts)
    assert all(type(w) is float for w in got.recent_w)
    assert all(
        type(v) is float for level in got.categories for pair in level.values() for v in pair
    )
    assert all(type(o) is int for o in got.offsets.values())


def test_error_names_the_user() -> None:
    data = bytearray(encode_user(_state()))
    data[-10] ^= 1
    with pytest.raises(StateCodecError, match="user-é"):
        decode_user(bytes(data))
    with pytest.raises(StateCodecError, match="k1"):
        decode_user(b"short", key="k1")


# The state of ``_V1_STATE`` as version 1 of the codec wrote it (before NUL-joined string lists).
_V1_HEX = (
    "495455530103000000e803000000000000d00700000000000003000000000000000100000004000000752dc3bc"
    "000000000000f03f00000000000004c00000000000000000000000000000e03f000000000000d03f0000000000"
    "00104002000000010000000600000073706f727473000000000000f83f0000000000000440010000000c000000"
    "73706f7274732f73686f6573000000000000e03f000000000000f03f02000000020000000200000069316932dc"
    "05000000000000d007000000000000000000000000f03f000000000000e03f0200000002000000020000006931"
    "6932010000000200000069390300000002000000020000000200000065316532653301000000080000006576"
    "656e74732f302900000000000000000200000000000000dc05000000000000ffffffffffffffff40c0430f"
)


def _v1_state() -> UserState:
    st = UserState.new("u-ü", 3)
    st.short[:] = [1.0, -2.5, 0.0]
    st.long[:] = [0.5, 0.25, 4.0]
    st.t_ref, st.watermark, st.n_events = 1000, 2000, 3
    st.add_category(1, "sports", 1.5, 2.5)
    st.add_category(2, "sports/shoes", 0.5, 1.0)
    st.recent_items, st.recent_ts, st.recent_w = ["i1", "i2"], [1500, 2000], [1.0, 0.5]
    st.consumed = dict.fromkeys(["i1", "i2"])
    st.disliked = dict.fromkeys(["i9"])
    st.event_ids = dict.fromkeys(["e1", "e2", "e3"])
    st.offsets = {"events/0": 41}
    st.drift.streak, st.drift.streak_start_ts = 2, 1500
    return st


def test_version_1_states_are_still_read() -> None:
    _same(decode_user(bytes.fromhex(_V1_HEX)), _v1_state())
    assert encode_user(_v1_state())[4] == 2  # written as version 2


@pytest.mark.parametrize(
    "ids",
    [[], [""], ["", ""], ["a\0b", "c"], ["\0"], ["x", "é", "雪"], [f"i{i}" for i in range(5000)]],
)
def test_string_lists_round_trip_with_and_without_nul(ids: list[str]) -> None:
    st = _state()
    st.consumed = dict.fromkeys(ids)
    st.recent_items = ids[:20]
    st.recent_ts, st.recent_w = [0] * len(st.recent_items), [1.0] * len(st.recent_items)
    _same(decode_user(encode_user(st)), st)


def test_unknown_version_is_refused() -> None:
    data = bytearray(encode_user(_state()))
    data[4] = 99
    with pytest.raises(StateCodecError, match="version 99"):
        decode_user(bytes(data))


def test_rebase_keeps_every_value() -> None:
    st = _state()
    h_s, h_l = 1_000.0, 10_000.0
    before_s = st.short * 2.0 ** (-(5_000 - st.t_ref) / h_s)
    before_c = st.categories[0]["sports"][1] * 2.0 ** (-(5_000 - st.t_ref) / h_l)
    st.rebase(5_000, h_s, h_l)
    assert st.t_ref == 5_000
    assert np.allclose(st.short, before_s, rtol=1e-12)
    assert st.categories[0]["sports"][1] == pytest.approx(before_c, rel=1e-12)


def test_category_shares_and_top() -> None:
    st = _state()
    assert st.category_shares(True, 1) == pytest.approx({"sports": 0.8, "home": 0.2})
    assert st.category_shares(False, 1) == {"sports": 1.0}  # negative short mass is no share
    assert st.top_categories(True, 1, 1) == ("sports",)
    assert st.category_shares(True, 3) == {}


def test_prune_categories_keeps_the_top_level() -> None:
    st = _state()
    st.add_category(2, "home/kitchen", 0.1, 0.1)
    st.prune_categories(3)
    assert st.n_categories() == 3
    assert set(st.categories[0]) == {"sports", "home"}
    assert set(st.categories[1]) == {"sports/shoes"}


def test_forget_item() -> None:
    st = _state()
    st.forget_item("a")
    assert "a" not in st.consumed
    assert st.recent_items == ["b"]
    assert st.recent_ts == [2_000]
