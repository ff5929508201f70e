"""The fast validator of *plain* events: plain type tests, bounds read from the schema.

Most events on the wire have one shape: the five required fields, an epoch-millisecond
``ts``, maybe a ``value`` and a ``text``, no inline item. :func:`plain_event_check` accepts
exactly the valid ones of that shape in a single function of ``type(...) is`` tests;
:meth:`streams.core.contract.EventParser.batch` sends everything it does not accept to the
full, schema-compiled path, which gives the precise rejection (or handles the rarer valid
shapes). ``event.schema.json`` stays the contract: the bounds come from it and from
``limits``, and ``tests/unit/core/test_fast_contract.py`` checks the two against
``jsonschema`` on hand-made and generated events.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection, Mapping
from typing import Any

from streams.core.params import LimitParams
from streams.core.schema import load_schema

__all__ = ["PlainCheck", "PlainEvent", "plain_event_check"]

PlainEvent = tuple[str, str, str, str, int, float, str | None]
"""``(event_id, user_id, item_id, type, ts, value (nan: none), text)`` of a plain event."""
PlainCheck = Callable[[object], PlainEvent | None]

_PLAIN_PROPS = {"event_id", "user_id", "item_id", "type", "ts", "value", "text", "item"}
_PLAIN_KEYWORDS = {"type", "minLength", "maxLength", "minimum", "maximum", "format"}
_PLAIN_KEYWORDS |= {"description", "x-limit", "x-enum-from", "x-reasons"}
_MISSING: Any = object()
_STRINGS = ["string"] * 4


def _length_bounds(spec: Mapping[str, Any], limits: LimitParams) -> tuple[int, float]:
    """``(minLength, maxLength)`` as :func:`streams.core.schema.compile_schema` applies them."""
    high = spec.get("maxLength", math.inf)
    if "x-limit" in spec and "maxLength" in spec:
        high = getattr(limits, spec["x-limit"])
    return int(spec.get("minLength", 0)), high


def _never(obj: object) -> PlainEvent | None:
    return None


def plain_event_check(limits: LimitParams, event_types: Collection[str]) -> PlainCheck:
    """The fast validator: ``check(obj)`` → the event's fields, or ``None``.

        Fields come back only for a *plain* valid event: a JSON object that passes
        ``event.schema.json`` (bounds read from it and from ``limits``) with an integer ``ts``, a
        finite ``value`` if any and no inline ``item``. ``None`` means "not plain": invalid, or
        valid in a shape the full path handles (ISO ``ts``, inline item, a value beyond ±1e300:
    ``orjson`` reads an integer wider than 64 bits as a float, the standard library as an int,
    and the contract rejects such an int, so both go to the full path to be told apart).
        When the schema has a property or keyword this check does not know, it always answers
        ``None`` (everything takes the full path) rather than guess.
    """
    schema = load_schema("event.schema.json")
    props: Mapping[str, Mapping[str, Any]] = schema["properties"]
    specs = [props.get(k, {}) for k in ("event_id", "user_id", "item_id", "type", "ts", "text")]
    if (
        set(props) != _PLAIN_PROPS
        or set(schema["required"]) != {"event_id", "user_id", "item_id", "type", "ts"}
        or any(set(spec) - _PLAIN_KEYWORDS for spec in specs)
        or len({repr(_length_bounds(spec, limits)) for spec in specs[:3]}) != 1
        or [spec.get("type") for spec in specs] != [*_STRINGS, ["integer", "string"], "string"]
        or props["value"].get("type") != "number"
        or set(props["value"]) - {"type", "description"}
    ):
        return _never
    id_lo, id_hi = _length_bounds(props["event_id"], limits)
    type_lo, type_hi = _length_bounds(props["type"], limits)
    types = frozenset(t for t in event_types if type_lo <= len(t) <= type_hi)
    ts_lo, ts_hi = props["ts"].get("minimum", -math.inf), props["ts"].get("maximum", math.inf)
    text_hi = _length_bounds(props["text"], limits)[1]

    def check(obj: object) -> PlainEvent | None:  # noqa: PLR0911 - one exit per rule
        if type(obj) is not dict:
            return None
        eid, uid, iid = obj.get("event_id"), obj.get("user_id"), obj.get("item_id")
        typ, ts = obj.get("type"), obj.get("ts")
        if not (
            type(eid) is str
            and type(uid) is str
            and type(iid) is str
            and type(ts) is int
            and id_lo <= len(eid) <= id_hi
            and id_lo <= len(uid) <= id_hi
            and id_lo <= len(iid) <= id_hi
            and ts_lo <= ts <= ts_hi
            and type(typ) is str
            and typ in types
        ):
            return None
        if len(obj) == 5:
            return eid, uid, iid, typ, ts, math.nan, None
        if "item" in obj:
            return None
        value = obj.get("value", _MISSING)
        if value is _MISSING:
            value = math.nan
        elif type(value) is float:
            if not -1e300 < value < 1e300:  # NaN, inf, or an integer orjson read as a float
                return None
        elif type(value) is int and -1e300 < value < 1e300:
            value = float(value)
        else:
            return None
        text = obj.get("text")
        if text is not None and (type(text) is not str or len(text) > text_hi):
            return None
        if text is None and "text" in obj:
            return None  # an explicit null: the full path says wrong_type
        return eid, uid, iid, typ, ts, value, text

    return check
