"""The UserStore contract, run on every implementation."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from state.errors import StateCodecError
from state.store import CodecUserStore, MemoryUserStore, UserStore
from state.user import UserState

STORES: dict[str, Callable[[], UserStore]] = {
    "memory": MemoryUserStore,
    "codec": CodecUserStore,
    "codec-cached": lambda: CodecUserStore(cache_size=2),
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
    store = CodecUserStore(data, cache_size=2)
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
    store = CodecUserStore(data, cache_size=2)
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


def test_the_cache_is_bounded() -> None:
    store = CodecUserStore(cache_size=2)
    states = [UserState.new(f"u{i}", 2) for i in range(3)]
    for st in states:
        store.put(st)
    assert store.cached == 2
    assert store.get("u0") is not states[0]  # the oldest put was dropped
    assert store.get("u1") is states[1]
    assert store.get("u2") is states[2]
    assert store.cached == 0  # what get hands over leaves the cache
