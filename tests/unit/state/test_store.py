"""The UserStore contract, run on every implementation."""

from __future__ import annotations

import tracemalloc
from collections.abc import Callable

import numpy as np
import pytest

from state.codec import decode_user, encode_user
from state.errors import StateCodecError
from state.store import CodecUserStore, MemoryUserStore, UserStore, cached_bytes
from state.user import UserState

STORES: dict[str, Callable[[], UserStore]] = {
    "memory": MemoryUserStore,
    "codec": CodecUserStore,
    "codec-cached": lambda: CodecUserStore(cache_bytes=1 << 20),
}


@pytest.fixture(params=sorted(STORES))
def store(request: pytest.FixtureRequest) -> UserStore:
    return STORES[request.param]()


def test_is_a_user_store(store: UserStore) -> None:
    assert isinstance(store, UserStore)


def test_get_put_delete(store: UserStore) -> None:
    assert store.get("u") is None
    st = UserState.new("u", 3)
    st.n_events = 5
    store.put(st)
    got = store.get("u")
    assert got is not None
    assert got.n_events == 5
    assert list(store.user_ids()) == ["u"]
    store.delete("u")
    store.delete("u")
    assert store.get("u") is None
    assert list(store.user_ids()) == []


def test_changes_are_durable_after_put(store: UserStore) -> None:
    store.put(UserState.new("u", 2))
    st = store.get("u")
    assert st is not None
    st.n_events = 9
    store.put(st)
    again = store.get("u")
    assert again is not None
    assert again.n_events == 9


def test_codec_store_names_the_user_on_corruption() -> None:
    data: dict[str, bytes] = {"u1": b"garbage!" * 8}
    with pytest.raises(StateCodecError, match="u1"):
        CodecUserStore(data).get("u1")


def test_the_cache_serves_put_states_while_their_bytes_are_unchanged() -> None:
    data: dict[str, bytes] = {}
    store = CodecUserStore(data, cache_bytes=1 << 20)
    st = UserState.new("u", 2)
    store.put(st)
    assert store.get("u") is st  # a hit: the very object, no decode
    fresh = store.get("u")  # handed over already: decoded
    assert fresh is not None
    assert fresh is not st
    store.put(st)
    taken = store.get("u")
    assert taken is st
    taken.n_events = 7  # mutated, never put (a failed batch): the stored state is served
    got = store.get("u")
    assert got is not None
    assert got.n_events == 0
    assert (store.hits, store.misses) == (2, 2)


def test_the_cache_decodes_when_another_writer_changed_the_bytes() -> None:
    data: dict[str, bytes] = {}
    store = CodecUserStore(data, cache_bytes=1 << 20)
    store.put(UserState.new("u", 2))
    other = UserState.new("u", 2)
    other.n_events = 3
    CodecUserStore(data).put(other)  # e.g. restored from the changelog after a rebalance
    got = store.get("u")
    assert got is not None
    assert got.n_events == 3
    store.put(UserState.new("u", 2))
    del data["u"]
    assert store.get("u") is None


def _entry(st: UserState) -> int:
    return cached_bytes(st, len(encode_user(st)))


def test_the_cache_is_bounded_by_its_memory_budget() -> None:
    states = [UserState.new(f"u{i}", 2) for i in range(3)]
    store = CodecUserStore(cache_bytes=_entry(states[0]) * 2)
    for st in states:
        store.put(st)
    assert store.cached == 2
    assert store.cached_bytes == _entry(states[1]) + _entry(states[2])
    assert store.get("u0") is not states[0]  # the oldest put was dropped
    assert store.get("u1") is states[1]
    assert store.get("u2") is states[2]
    assert store.cached == 0  # what get hands over leaves the cache
    assert store.cached_bytes == 0


def test_a_put_again_replaces_its_entry_and_a_state_over_the_budget_is_not_kept() -> None:
    small = UserState.new("s", 2)
    store = CodecUserStore(cache_bytes=_entry(small) * 3)
    store.put(small)
    store.put(small)
    assert (store.cached, store.cached_bytes) == (1, _entry(small))
    big = UserState.new("b", 2)
    big.consumed = dict.fromkeys(f"item-{i}" for i in range(1000))
    assert _entry(big) > _entry(small) * 3
    store.put(big)
    assert (store.cached, store.cached_bytes) == (1, _entry(small))
    assert store.get("s") is small
    got = store.get("b")  # stored, decoded
    assert got is not None
    assert got is not big
    assert len(got.consumed) == 1000
    store.put(small)
    store.delete("s")
    assert (store.cached, store.cached_bytes) == (0, 0)


def _user(dim: int, consumed: int, events: int, recent: int, levels: list[int]) -> UserState:
    rng = np.random.default_rng(dim + consumed)
    st = UserState("user-00012345", rng.random(dim), rng.random(dim))
    st.consumed = dict.fromkeys(f"item-{i:06d}" for i in range(consumed))
    st.disliked = dict.fromkeys(f"item-{i:06d}" for i in range(consumed // 10))
    st.event_ids = dict.fromkeys(f"{i:08x}-5d2b-4c8e-9f0a-1b2c3d4e5f60" for i in range(events))
    st.recent_items = [f"item-{i:06d}" for i in range(recent)]
    st.recent_ts = [1_700_000_000_000 + i for i in range(recent)]
    st.recent_w = [1.0 + i for i in range(recent)]
    st.categories = [
        {f"category-{depth}-{j}": [0.5 + j, 0.25 + j] for j in range(n)}
        for depth, n in enumerate(levels)
    ]
    st.offsets = {f"events.click:{p}": 1000 + p for p in range(4)}
    return st


@pytest.mark.parametrize(
    "shape",
    [
        (384, 8, 8, 8, [3, 5, 6]),  # the pipeline bench's users
        (384, 1, 1, 1, [1, 1, 1]),  # a first event
        (384, 200, 256, 20, [10, 30, 60]),
        (384, 10_000, 256, 20, [20, 100, 400]),  # every consumed item remembered
        (64, 50, 50, 20, [5, 5, 5]),
        (384, 20, 20, 20, [512, 512, 512]),  # every category remembered
    ],
)
def test_the_entry_estimate_is_near_the_memory_it_holds(
    shape: tuple[int, int, int, int, list[int]],
) -> None:
    raw = encode_user(_user(*shape))
    copies = 5
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        held = [(bytes(bytearray(raw)), decode_user(raw)) for _ in range(copies)]
        measured = (tracemalloc.get_traced_memory()[0] - before) / copies
    finally:
        tracemalloc.stop()
    estimate = cached_bytes(held[0][1], len(raw))
    assert measured / 1.25 <= estimate <= measured * 1.25, (estimate, measured)
