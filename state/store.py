"""The ``UserStore`` port and its twins: where user states live between batches.

Contract (``tests/unit/state/test_store.py`` runs it on every implementation):

* ``get(user_id)`` returns the stored state or ``None``. The caller may mutate the returned
  object; a change is only durable after ``put(state)``.
* ``put(state)`` stores ``state`` under ``state.user_id`` (replacing any previous one).
* ``delete(user_id)`` removes it (no error when absent); ``user_ids()`` iterates the stored ids.
* Errors: a stored value that cannot be decoded raises
  :class:`~state.errors.StateCodecError` naming the user.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator, MutableMapping
from typing import Protocol, runtime_checkable

from state.codec import decode_user, encode_user
from state.user import UserState

__all__ = ["CodecUserStore", "MemoryUserStore", "UserStore"]


@runtime_checkable
class UserStore(Protocol):
    """Keyed storage of :class:`UserState` by user id."""

    def get(self, user_id: str) -> UserState | None:
        """The state of ``user_id``, or ``None`` when the user is unknown."""
        ...

    def put(self, state: UserState) -> None:
        """Store ``state`` under ``state.user_id``."""
        ...

    def delete(self, user_id: str) -> None:
        """Forget ``user_id`` (no error when absent)."""
        ...

    def user_ids(self) -> Iterator[str]:
        """The stored user ids (no particular order)."""
        ...


class MemoryUserStore:
    """States as live objects in a dict (replay, tests): ``put`` of a fetched state is free."""

    __slots__ = ("_states",)

    def __init__(self) -> None:
        self._states: dict[str, UserState] = {}

    def __len__(self) -> int:
        return len(self._states)

    def get(self, user_id: str) -> UserState | None:
        """The live state object, or ``None``."""
        return self._states.get(user_id)

    def put(self, state: UserState) -> None:
        """Keep ``state`` (the object itself, no copy)."""
        self._states[state.user_id] = state

    def delete(self, user_id: str) -> None:
        """Forget ``user_id``."""
        self._states.pop(user_id, None)

    def user_ids(self) -> Iterator[str]:
        """The stored user ids, in insertion order."""
        return iter(list(self._states))


class CodecUserStore:
    """States encoded by :mod:`state.codec` in any bytes mapping (a RocksDB table, a dict).

    ``cache_size > 0`` keeps up to that many decoded states of recent ``put`` s (least
    recently put dropped first), each with its bytes: ``get`` returns the cached object when
    the stored bytes are still exactly those (another writer, a rebalance or a restore
    changes them and the bytes are decoded again), and hands it over — the entry leaves the
    cache, so a state the caller mutated and never put is never served again. A caller must
    not mutate a state after putting it (put it again instead).
    """

    __slots__ = ("_cache", "_cache_size", "_data", "hits", "misses")

    def __init__(self, data: MutableMapping[str, bytes] | None = None, cache_size: int = 0) -> None:
        self._data: MutableMapping[str, bytes] = {} if data is None else data
        self._cache: OrderedDict[str, tuple[bytes, UserState]] = OrderedDict()
        self._cache_size = cache_size
        self.hits = 0
        self.misses = 0

    @property
    def cached(self) -> int:
        """Decoded states the cache holds."""
        return len(self._cache)

    def get(self, user_id: str) -> UserState | None:
        """Decode the stored bytes (``StateCodecError`` names the user when they are bad)."""
        raw = self._data.get(user_id)
        cached = self._cache.pop(user_id, None)
        if raw is None:
            return None
        if cached is not None and cached[0] == raw:
            self.hits += 1
            return cached[1]
        self.misses += 1
        return decode_user(raw, key=user_id)

    def put(self, state: UserState) -> None:
        """Encode and store ``state``."""
        raw = encode_user(state)
        self._data[state.user_id] = raw
        if self._cache_size > 0:
            self._cache[state.user_id] = (raw, state)
            self._cache.move_to_end(state.user_id)
            if len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)

    def delete(self, user_id: str) -> None:
        """Forget ``user_id``."""
        self._cache.pop(user_id, None)
        self._data.pop(user_id, None)

    def user_ids(self) -> Iterator[str]:
        """The stored user ids."""
        return iter(list(self._data))
