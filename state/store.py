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
    """States encoded by :mod:`state.codec` in any bytes mapping (a RocksDB table, a dict)."""

    __slots__ = ("_data",)

    def __init__(self, data: MutableMapping[str, bytes] | None = None) -> None:
        self._data: MutableMapping[str, bytes] = {} if data is None else data

    def get(self, user_id: str) -> UserState | None:
        """Decode the stored bytes (``StateCodecError`` names the user when they are bad)."""
        raw = self._data.get(user_id)
        return None if raw is None else decode_user(raw, key=user_id)

    def put(self, state: UserState) -> None:
        """Encode and store ``state``."""
        self._data[state.user_id] = encode_user(state)

    def delete(self, user_id: str) -> None:
        """Forget ``user_id``."""
        self._data.pop(user_id, None)

    def user_ids(self) -> Iterator[str]:
        """The stored user ids."""
        return iter(list(self._data))
