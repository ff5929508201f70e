"""Validation at the boundary: raw bytes in, an ``Event``/``Item`` or a ``Rejection`` out.

The rules are the JSON Schemas in ``streams/core/schemas/`` (compiled by
:mod:`streams.core.schema`) plus what a schema cannot say: ``ts`` as an ISO-8601 string needs a
zone, an inline item's ``item_id`` must be the event's, a category path has a bounded depth, and
the message size is bounded. The time rules that need state (``too_late``, ``future_ts``) are
the engine's. Nothing here raises on bad input.

:meth:`EventParser.batch` parses a whole batch into columns. Its fast path takes the common
shape (no inline item, epoch-millisecond ``ts``): ``orjson`` (strict RFC 8259, about twice as
fast as the standard scanner) and plain type tests (:mod:`streams.core.plain`, bounds read
from the same schema); anything else, valid or not — and anything ``orjson`` refuses that
the standard library reads (``NaN``, a BOM, lone surrogates) — goes through the full path
above, so both paths give the same events and rejections
(``tests/unit/core/test_fast_contract.py`` checks them against ``jsonschema``).

Reason codes: see :data:`REASONS`.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

import orjson

from state.categories import category_nodes
from streams.core.columns import EventColumns
from streams.core.events import Event, Item
from streams.core.messages import Message
from streams.core.outputs import Rejection
from streams.core.params import LimitParams
from streams.core.plain import PlainCheck, plain_event_check
from streams.core.schema import Invalid, ObjectValidator, compile_schema, load_schema

__all__ = ["REASONS", "EventParser", "ItemParser", "iso_to_ms"]

REASONS: Mapping[str, str] = {
    "oversized": "the message is larger than limits.max_message_bytes",
    "malformed_json": "the bytes are not one JSON value of Unicode text (or not UTF-8)",
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
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:  # deep nesting: bad input
        return _reject(msg, "malformed_json", str(exc)[:200])
    if _lone_surrogate(obj):
        return _reject(msg, "malformed_json", "a lone surrogate (e.g. \\ud800) is not Unicode text")
    return obj


_SURROGATE = re.compile("[\ud800-\udfff]")


def _lone_surrogate(obj: object) -> bool:
    """Whether a key or string of ``obj``, at any depth, holds a lone UTF-16 surrogate.

    JSON's ``\\u`` escapes let one through (``json`` joins only proper pairs), and so does
    ``json``'s decoding of bytes (``surrogatepass``); it is not Unicode text: it cannot be
    encoded as UTF-8, tokenized or published, so it would fail the batch downstream."""
    todo = [obj]
    while todo:
        x = todo.pop()
        if isinstance(x, str):
            if _SURROGATE.search(x):
                return True
        elif isinstance(x, dict):
            for k, v in x.items():
                if _SURROGATE.search(k):
                    return True
                todo.append(v)
        elif isinstance(x, list):
            todo.extend(x)
    return False


def _checked(
    msg: Message, limits: LimitParams, validate: ObjectValidator
) -> dict[str, object] | Rejection:
    """The message's JSON object if it decodes and passes ``validate``, else the rejection."""
    obj = _decode(msg, limits.max_message_bytes)
    if isinstance(obj, Rejection):
        return obj
    try:
        validate(obj)
    except Invalid as exc:
        return _reject(msg, exc.reason, exc.detail)
    assert isinstance(obj, dict)
    return obj


def _reject(msg: Message, reason: str, detail: str) -> Rejection:
    return Rejection(reason, detail, msg.value, msg.topic, msg.partition, msg.offset)


def _item(obj: dict[str, object], limits: LimitParams) -> Item | str:
    item = Item.from_mapping(obj)
    if not item.deleted and len(category_nodes(item.category)) > limits.max_category_depth:
        return f"category deeper than {limits.max_category_depth} levels"
    return item


def _inline(raw: dict[str, object], item_id: object, limits: LimitParams) -> Item | tuple[str, str]:
    """An event's inline item, or the (reason, detail) it is rejected for."""
    parsed = _item(raw, limits)
    if isinstance(parsed, str):
        return "bad_category", parsed
    if parsed.item_id != item_id:
        return "item_mismatch", f"item.item_id {parsed.item_id!r}"
    if parsed.deleted:  # a deletion belongs on the items topic, not in an event
        return "invalid_field", "an inline item cannot be a deletion"
    return parsed


class ItemParser:
    """``parser(message) -> Item | Rejection`` for the ``items`` topic / an items file."""

    __slots__ = ("_limits", "_validate")

    def __init__(self, limits: LimitParams) -> None:
        self._limits = limits
        self._validate: ObjectValidator = compile_schema("item.schema.json", limits)

    def __call__(self, msg: Message) -> Item | Rejection:
        """Validate one message; never raises on bad input."""
        obj = _checked(msg, self._limits, self._validate)
        if isinstance(obj, Rejection):
            return obj
        item = _item(obj, self._limits)
        return _reject(msg, "bad_category", item) if isinstance(item, str) else item


class EventParser:
    """``parser(message) -> Event | Rejection`` for event records / an events file."""

    __slots__ = ("_limits", "_plain", "_ts_bounds", "_validate")

    def __init__(self, limits: LimitParams, event_types: frozenset[str]) -> None:
        self._limits = limits
        self._validate: ObjectValidator = compile_schema(
            "event.schema.json", limits, {"event_types": event_types}
        )
        self._plain = plain_event_check(limits, event_types)
        ts = load_schema("event.schema.json")["properties"]["ts"]
        self._ts_bounds = (ts.get("minimum", -math.inf), ts.get("maximum", math.inf))

    @property
    def plain(self) -> PlainCheck:
        """The fast validator of this parser (see :func:`plain_event_check`)."""
        return self._plain

    def batch(
        self, messages: Sequence[Message], type_index: Mapping[str, int]
    ) -> tuple[EventColumns, list[Rejection]]:
        """Validate a batch: ``(valid events as columns, rejections)``, both in arrival order.

        The same events and rejections as calling the parser on each message.
        ``type_index`` maps every configured event type to its column code.
        """
        cols = EventColumns()
        rejections: list[Rejection] = []
        loads, check, limit = orjson.loads, self._plain, self._limits.max_message_bytes
        col_msg, col_eid, col_uid, col_iid = cols.msg, cols.event_id, cols.user_id, cols.item_id
        col_type, col_ts, col_value, col_text = cols.type, cols.ts, cols.value, cols.text
        i = -1
        for msg in messages:
            i += 1
            raw = msg[0]
            fields = None
            if len(raw) <= limit:
                try:  # noqa: SIM105 - a suppress() context per event costs more
                    fields = check(loads(raw))
                except ValueError:
                    pass  # the full path says why (or parses what orjson refuses: NaN, BOM)
            if fields is None:
                ev = self(msg)
                if isinstance(ev, Rejection):
                    rejections.append(ev)
                else:
                    cols.append(i, ev, type_index[ev.type])
                continue
            eid, uid, iid, typ, ts, value, ev_text = fields
            if ev_text is not None:
                col_text[len(col_msg)] = ev_text
            col_msg.append(i)
            col_eid.append(eid)
            col_uid.append(uid)
            col_iid.append(iid)
            col_type.append(type_index[typ])
            col_ts.append(ts)
            col_value.append(value)
        return cols, rejections

    def __call__(self, msg: Message) -> Event | Rejection:
        """Validate one message; never raises on bad input."""
        obj = _checked(msg, self._limits, self._validate)
        if isinstance(obj, Rejection):
            return obj
        return self.from_object(obj, msg)

    def from_object(self, obj: dict[str, object], msg: Message) -> Event | Rejection:
        """The event of an already schema-checked object (the time and item rules)."""
        raw_ts = obj["ts"]
        if type(raw_ts) is str:
            ts = iso_to_ms(raw_ts)
            if ts is None:
                return _reject(msg, "bad_ts", f"ts: {raw_ts[:64]!r} is not ISO-8601 with a zone")
            lo, hi = self._ts_bounds  # the schema's bounds hold for the time it names too
            if not lo <= ts <= hi:
                return _reject(
                    msg, "bad_ts", f"ts: {raw_ts[:64]!r} is {ts} ms, not in [{lo}, {hi}]"
                )
        else:
            ts = int(raw_ts)  # type: ignore[call-overload]
        item = None
        raw_item = obj.get("item")
        if raw_item is not None:
            assert isinstance(raw_item, dict)
            inline = _inline(raw_item, obj["item_id"], self._limits)
            if isinstance(inline, tuple):
                return _reject(msg, *inline)
            item = inline
        value = obj.get("value")
        if value is not None:
            try:
                value = float(value)  # type: ignore[arg-type]
            except OverflowError:
                return _reject(msg, "not_finite", "value: an integer too large for a float")
        text = obj.get("text")
        return Event(
            event_id=obj["event_id"],  # type: ignore[arg-type]
            user_id=obj["user_id"],  # type: ignore[arg-type]
            item_id=obj["item_id"],  # type: ignore[arg-type]
            type=obj["type"],  # type: ignore[arg-type]
            ts=ts,
            value=value,
            text=text,  # type: ignore[arg-type]
            item=item,
        )
