"""Where a raw input line goes: topic and key, without validating it (the worker does that).

Producers key events by ``user_id`` and partition with murmur2 (``murmur2_random`` in
librdkafka), the partitioner Java clients and aiokafka use, so that a user's events from every
event topic land on the same partition number as the user's state.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

__all__ = ["PRODUCER_DEFAULTS", "Route", "route_event", "route_item", "utf8_key"]

TYPED_TOPICS = {"click": "events.click", "view": "events.view", "purchase": "events.purchase"}
ANY_TYPE_TOPIC = "events"

PRODUCER_DEFAULTS: dict[str, str | int | float | bool] = {
    "partitioner": "murmur2_random",
    "linger.ms": 20,
    "batch.num.messages": 10000,
    "compression.type": "lz4",
    "enable.idempotence": True,
    "acks": "all",
}


@dataclass(frozen=True, slots=True)
class Route:
    """The logical topic (without prefix) and the key of one record."""

    topic: str
    key: bytes | None


def utf8_key(x: object) -> bytes | None:
    """``x`` as UTF-8 when it is a string that has an encoding (``json`` reads lone
    surrogates, which have none); ``None`` otherwise."""
    if not isinstance(x, str):
        return None
    try:
        return x.encode()
    except UnicodeEncodeError:
        return None


def _field(line: bytes, name: str) -> object:
    try:
        body = json.loads(line)
    except (ValueError, UnicodeDecodeError):
        return None
    return body.get(name) if isinstance(body, dict) else None


def route_event(line: bytes) -> Route:
    """``click``/``view``/``purchase`` go to their own topic, other types to ``events``.

    Lines that are not JSON objects, or lack a string ``user_id``, still go to ``events``
    (unkeyed): the worker rejects them into the dead-letter topic, so nothing is lost here.
    """
    try:
        body = json.loads(line)
    except (ValueError, UnicodeDecodeError):
        return Route(ANY_TYPE_TOPIC, None)
    if not isinstance(body, dict):
        return Route(ANY_TYPE_TOPIC, None)
    key = utf8_key(body.get("user_id"))
    topic = (
        TYPED_TOPICS.get(body["type"], ANY_TYPE_TOPIC)
        if isinstance(body.get("type"), str)
        else ANY_TYPE_TOPIC
    )
    return Route(topic, key)


def route_item(line: bytes) -> Route:
    """Items go to the compacted ``items`` topic keyed by ``item_id``.

    A compacted topic refuses a record without a key, so a line without a readable
    ``item_id`` is keyed by its content (``no-item-id:`` and its SHA-256): the broker takes
    it, every worker rejects it into the dead-letter topic, and the same bad line sent again
    replaces itself rather than piling up."""
    key = utf8_key(_field(line, "item_id"))
    if key:
        return Route("items", key)
    return Route("items", b"no-item-id:" + hashlib.sha256(line).hexdigest().encode())
