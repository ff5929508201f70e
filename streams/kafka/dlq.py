"""The dead-letter envelope: a rejected record with its reason and its original bytes.

A record on ``events.dlq`` is keyed by the original key and carries, as JSON::

    {"reason": "malformed_json", "detail": "...", "topic": "events.click", "partition": 3,
     "offset": 1234, "key_b64": "...", "value_b64": "...", "value_utf8": "...",
     "rejected_at_ms": 1700000000000, "version": 1}

``value_b64`` is the exact original bytes; ``value_utf8`` repeats them as text when they
decode, for humans. The same fields travel as Kafka headers (``dlq.reason``, ``dlq.topic``,
``dlq.partition``, ``dlq.offset``) so tools can filter without parsing.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass

__all__ = ["DLQ_VERSION", "DeadLetter", "decode_dead_letter"]

DLQ_VERSION = 1


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """One rejected record."""

    reason: str
    detail: str
    value: bytes
    key: bytes | None = None
    topic: str = ""
    partition: int = -1
    offset: int = -1
    rejected_at_ms: int = 0

    def to_json(self) -> bytes:
        """The envelope as UTF-8 JSON (stable field order)."""
        try:
            text: str | None = self.value.decode("utf-8")
        except UnicodeDecodeError:
            text = None
        body = {
            "reason": self.reason,
            "detail": self.detail,
            "topic": self.topic,
            "partition": self.partition,
            "offset": self.offset,
            "key_b64": None if self.key is None else base64.b64encode(self.key).decode(),
            "value_b64": base64.b64encode(self.value).decode(),
            "value_utf8": text,
            "rejected_at_ms": self.rejected_at_ms,
            "version": DLQ_VERSION,
        }
        return json.dumps(body, ensure_ascii=False).encode()

    def headers(self) -> list[tuple[str, bytes]]:
        """Kafka headers that repeat the routing fields."""
        return [
            ("dlq.reason", self.reason.encode()),
            ("dlq.topic", self.topic.encode()),
            ("dlq.partition", str(self.partition).encode()),
            ("dlq.offset", str(self.offset).encode()),
        ]


def decode_dead_letter(raw: bytes) -> DeadLetter:
    """Parse an envelope written by :meth:`DeadLetter.to_json`."""
    body = json.loads(raw)
    key = body.get("key_b64")
    return DeadLetter(
        reason=body["reason"],
        detail=body["detail"],
        value=base64.b64decode(body["value_b64"]),
        key=None if key is None else base64.b64decode(key),
        topic=body["topic"],
        partition=int(body["partition"]),
        offset=int(body["offset"]),
        rejected_at_ms=int(body["rejected_at_ms"]),
    )
