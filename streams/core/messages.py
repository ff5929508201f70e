"""``Message``: one raw input record (a Kafka record, or one line of a file)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple, overload

__all__ = ["LineMessages", "Message"]


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


class LineMessages(Sequence[Message]):
    """The lines of a file as messages (no Kafka position), each built when accessed.

    What :func:`streams.datasets.files.read_messages` yields, for a batch of lines, without
    an object per line up front: the engine reads a file batch's messages only to cite the
    rejected ones, and knows from the type that none has a Kafka position.
    """

    __slots__ = ("lines", "topic")

    def __init__(self, lines: Sequence[bytes], topic: str) -> None:
        self.lines = lines
        self.topic = topic

    def __len__(self) -> int:
        return len(self.lines)

    @overload
    def __getitem__(self, i: int) -> Message: ...

    @overload
    def __getitem__(self, i: slice) -> Sequence[Message]: ...

    def __getitem__(self, i: int | slice) -> Message | Sequence[Message]:
        if isinstance(i, slice):
            return LineMessages(self.lines[i], self.topic)
        return Message(self.lines[i], None, self.topic)
