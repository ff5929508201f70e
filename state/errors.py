"""The exceptions of :mod:`state`: one hierarchy, foreign errors wrapped with context."""

from __future__ import annotations

__all__ = ["CatalogError", "StateCodecError", "StateError"]


class StateError(Exception):
    """Base class of every error raised by :mod:`state`."""


class StateCodecError(StateError):
    """A user state could not be encoded or decoded; ``user_id`` names it when known."""

    def __init__(self, message: str, user_id: str | None = None) -> None:
        where = f" (user {user_id!r})" if user_id is not None else ""
        super().__init__(f"{message}{where}")
        self.user_id = user_id


class CatalogError(StateError):
    """The item catalog was asked for something it cannot do (a wrong vector shape, ...)."""
