"""``Message``: one raw input record (a Kafka record, or one line of a file)."""

from __future__ import annotations

from typing import NamedTuple

__all__ = ["Message"]


class Message(NamedTuple):
    """The raw bytes and where they came from (immutable; a tuple, so cheap to build).

    ``partition`` and ``offset`` are ``-1`` when unknown (files); offset marks are only kept
    for messages that have both, so redelivered Kafka records are recognised.
    """

    value: bytes
    key: bytes | None = None
    topic: str = ""
    partition: int = -1
    offset: int = -1
