"""Builders shared by the engine tests: items, events and messages as bytes."""

from __future__ import annotations

import json
from typing import Any

from streams.core.messages import Message

__all__ = ["event", "item", "msg"]


def item(item_id: str, title: str, category: str, **extra: Any) -> dict[str, Any]:
    """An item record."""
    return {"item_id": item_id, "title": title, "category": category, **extra}


def event(
    event_id: str, user: str, item_id: str, ts: int, type_: str = "click", **extra: Any
) -> dict[str, Any]:
    """An event record."""
    return {
        "event_id": event_id,
        "user_id": user,
        "item_id": item_id,
        "type": type_,
        "ts": ts,
        **extra,
    }


def msg(obj: dict[str, Any] | bytes, partition: int = -1, offset: int = -1) -> Message:
    """A message of ``obj`` (JSON-encoded unless bytes)."""
    value = obj if isinstance(obj, bytes) else json.dumps(obj).encode()
    return Message(value=value, topic="events", partition=partition, offset=offset)
