"""The UserStore contract, run on every implementation."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from state.errors import StateCodecError
from state.store import CodecUserStore, MemoryUserStore, UserStore
from state.user import UserState

STORES: dict[str, Callable[[], UserStore]] = {"memory": MemoryUserStore, "codec": CodecUserStore}


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
