"""Reading JSONL item and event files as raw ``Message`` s (one per non-blank line).

The engine validates; this module only splits lines. A line's bytes exclude the line
terminator (``\\n`` or ``\\r\\n``); blank lines are skipped. ``partition``/``offset`` stay -1
(files carry no Kafka position, so duplicates are recognised by ``event_id`` alone); ``topic``
is the file name, so a rejection says which file it came from.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from streams.core.messages import Message

__all__ = ["count_lines", "read_lines", "read_messages"]


def read_lines(path: Path) -> Iterator[bytes]:
    """The non-blank lines of ``path`` without their terminators, in file order."""
    with path.open("rb") as f:
        for line in f:
            stripped = line.rstrip(b"\r\n")
            if stripped.strip():
                yield stripped


def read_messages(path: Path) -> Iterator[Message]:
    """One ``Message`` per non-blank line of ``path``."""
    topic = path.name
    for line in read_lines(path):
        yield Message(line, None, topic)


def count_lines(path: Path) -> int:
    """How many messages ``read_messages(path)`` yields."""
    with path.open("rb") as f:
        return sum(1 for line in f if line.strip())
