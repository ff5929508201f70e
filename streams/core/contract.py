"""Validation at the boundary: raw bytes in, an ``Event``/``Item`` or a ``Rejection`` out.

The rules are the JSON Schemas in ``streams/core/schemas/`` (compiled by
:mod:`streams.core.schema`) plus what a schema cannot say: ``ts`` as an ISO-8601 string needs a
zone, an inline item's ``item_id`` must be the event's, a category path has a bounded depth, and
the message size is bounded. The time rules that need state (``too_late``, ``future_ts``) are
the engine's. Nothing here raises on bad input.

Reason codes: see :data:`REASONS`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime

from state.categories import category_nodes
from streams.core.events import Event, Item
from streams.core.messages import Message
from streams.core.outputs import Rejection
from streams.core.params import LimitParams
from streams.core.schema import Invalid, ObjectValidator, compile_schema

__all__ = ["REASONS", "EventParser", "ItemParser", "iso_to_ms"]

REASONS: Mapping[str, str] = {
    "oversized": "the message is larger than limits.max_message_bytes",
    "malformed_json": "the bytes are not one JSON value (or not UTF-8)",
    "not_an_object": "the JSON value is not an object",
    "missing_field": "a required field is absent",
    "wrong_type": "a field has the wrong JSON type",
    "not_finite": "a number is NaN or infinite",
    "empty_id": "an id is the empty string",
    "id_too_long": "an id is longer than limits.max_id_length",
    "text_too_long": "text/title/description longer than limits.max_text_length",
    "tag_too_long": "a tag is longer than limits.max_id_length",
    "too_many_tags": "more tags than limits.max_tags",
    "bad_category": "the category path is too long or deeper than limits.max_category_depth",
    "unknown_type": "the event type is not configured (EngineParams.event_types)",
    "bad_ts": "ts is not epoch milliseconds >= 0 nor an ISO-8601 date-time with a zone",
    "item_mismatch": "the inline item's item_id differs from the event's",
    "future_ts": "ts is beyond now + limits.future_bound_ms",
    "too_late": "ts is older than the user's watermark - limits.allowed_lateness_ms",
    "unknown_item": "the item is not in the catalog and the event carries no inline item",
    "invalid_field": "a field breaks another schema rule",
}

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def iso_to_ms(text: str) -> int | None:
    """Epoch milliseconds of an ISO-8601 date-time with a zone, else ``None``.

    >>> iso_to_ms("1970-01-01T00:00:01.5Z")
    1500
    >>> iso_to_ms("2024-01-01T00:00:00") is None  # no zone
    True
    """
    try:
        dt = datetime.fromisoformat(text)
    except ValueError:
        return None
    if dt.tzinfo is None or dt.utcoffset() is None:
        return None
    return (dt - _EPOCH) // _MS


_MS = datetime(1970, 1, 1, 0, 0, 0, 1000, tzinfo=UTC) - _EPOCH


def _decode(msg: Message, limit: int) -> object | Rejection:
    if len(msg.value) > limit:
        return _reject(msg, "oversized", f"{len(msg.value)} bytes > {limit}")
    try:
        obj: object = json.loads(msg.value)
    except (ValueError, UnicodeDecodeError) as exc:
        return _reject(msg, "malformed_json", str(exc)[:200])
    return obj


def _reject(msg: Message, reason: str, detail: str) -> Rejection:
    return Rejection(reason, detail, msg.value, msg.topic, msg.partition, msg.offset)


def _item(obj: dict[str, object], limits: LimitParams) -> Item | str:
    item = Item.from_mapping(obj)
    if not item.deleted and len(category_nodes(item.category)) > limits.max_category_depth:
        return f"category deeper than {limits.max_category_depth} levels"
    return item


class ItemParser:
    """``parser(message) -> Item | Rejection`` for the ``items`` topic / an items file."""

    __slots__ = ("_limits", "_validate")

    def __init__(self, limits: LimitParams) -> None:
        self._limits = limits
        self._validate: ObjectValidator = compile_schema("item.schema.json", limits)

    def __call__(self, msg: Message) -> Item | Rejection:
        """Validate one message; never raises on bad input."""
        obj = _decode(msg, self._limits.max_message_bytes)
        if isinstance(obj, Rejection):
            return obj
        try:
            self._validate(obj)
        except Invalid as exc:
            return _reject(msg, exc.reason, exc.detail)
        assert isinstance(obj, dict)
        item = _item(obj, self._limits)
        return _reject(msg, "bad_category", item) if isinstance(item, str) else item


class EventParser:
    """``parser(message) -> Event | Rejection`` for event records / an events file."""

    __slots__ = ("_limits", "_validate")

    def __init__(self, limits: LimitParams, event_types: frozenset[str]) -> None:
        self._limits = limits
        self._validate: ObjectValidator = compile_schema(
            "event.schema.json", limits, {"event_types": event_types}
        )

    def __call__(self, msg: Message) -> Event | Rejection:
        """Validate one message; never raises on bad input."""
        obj = _decode(msg, self._limits.max_message_bytes)
        if isinstance(obj, Rejection):
            return obj
        try:
            self._validate(obj)
        except Invalid as exc:
            return _reject(msg, exc.reason, exc.detail)
        assert isinstance(obj, dict)
        return self.from_object(obj, msg)

    def from_object(self, obj: dict[str, object], msg: Message) -> Event | Rejection:
        """The event of an already schema-checked object (the time and item rules)."""
        raw_ts = obj["ts"]
        if type(raw_ts) is str:
            ts = iso_to_ms(raw_ts)
            if ts is None:
                return _reject(msg, "bad_ts", f"ts: {raw_ts[:64]!r} is not ISO-8601 with a zone")
        else:
            ts = int(raw_ts)  # type: ignore[call-overload]
        item = None
        raw_item = obj.get("item")
        if raw_item is not None:
            assert isinstance(raw_item, dict)
            parsed = _item(raw_item, self._limits)
            if isinstance(parsed, str):
                return _reject(msg, "bad_category", parsed)
            if parsed.item_id != obj["item_id"]:
                return _reject(msg, "item_mismatch", f"item.item_id {parsed.item_id!r}")
            item = parsed
        value = obj.get("value")
        text = obj.get("text")
        return Event(
            event_id=obj["event_id"],  # type: ignore[arg-type]
            user_id=obj["user_id"],  # type: ignore[arg-type]
            item_id=obj["item_id"],  # type: ignore[arg-type]
            type=obj["type"],  # type: ignore[arg-type]
            ts=ts,
            value=None if value is None else float(value),  # type: ignore[arg-type]
            text=text,  # type: ignore[arg-type]
            item=item,
        )
