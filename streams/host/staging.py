"""Stage the user states a batch needs, so the engine can run in a thread.

faust tables must be read and written on the event loop (a RocksDB write needs the event
context to know its partition). The worker therefore reads the states of a batch's users into
a :class:`BatchStage` on the loop, runs the engine on the stage in the engine thread, then
writes back only what changed, each user in the context of one of its own events.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, MutableMapping

__all__ = ["BatchStage", "StageProxy"]

_DELETED = b""


class BatchStage(MutableMapping[str, bytes]):
    """A bytes mapping over the prefetched states of one batch that records its changes.

    Reads of keys that were not prefetched return nothing (a new user): the worker only
    hands the engine messages whose key is the user id, so every touched user was prefetched.
    """

    def __init__(self, prefetched: Mapping[str, bytes]) -> None:
        self._base = dict(prefetched)
        self._changes: dict[str, bytes] = {}

    def __getitem__(self, key: str) -> bytes:
        if key in self._changes:
            value = self._changes[key]
            if value is _DELETED:
                raise KeyError(key)
            return value
        return self._base[key]

    def __setitem__(self, key: str, value: bytes) -> None:
        if not value:
            raise ValueError("an encoded user state is never empty")
        self._changes[key] = value

    def __delitem__(self, key: str) -> None:
        if key not in self:
            raise KeyError(key)
        self._changes[key] = _DELETED

    def __iter__(self) -> Iterator[str]:
        keys = set(self._base) | set(self._changes)
        return iter(sorted(k for k in keys if k in self))

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def __contains__(self, key: object) -> bool:
        if key in self._changes:
            return self._changes[key] is not _DELETED
        return key in self._base

    def reset(self, prefetched: Mapping[str, bytes]) -> None:
        """Forget every change and start again from ``prefetched``."""
        self._base = dict(prefetched)
        self._changes.clear()

    def changes(self) -> dict[str, bytes | None]:
        """``{user_id: new bytes, or None when deleted}`` for every key that changed."""
        return {
            k: (None if v is _DELETED else v)
            for k, v in self._changes.items()
            if self._base.get(k) != v
        }


class StageProxy(MutableMapping[str, bytes]):
    """The engine's one, long-lived user mapping: it delegates to the stage of the batch in
    flight (set by the worker before each engine call, in the engine thread)."""

    def __init__(self) -> None:
        self.stage: MutableMapping[str, bytes] = BatchStage({})

    def __getitem__(self, key: str) -> bytes:
        return self.stage[key]

    def __setitem__(self, key: str, value: bytes) -> None:
        self.stage[key] = value

    def __delitem__(self, key: str) -> None:
        del self.stage[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.stage)

    def __len__(self) -> int:
        return len(self.stage)

    def __contains__(self, key: object) -> bool:
        return key in self.stage
