"""The batch parser's fast path agrees with the contract: ``jsonschema`` and the full path.

* On the fast validator's domain (no inline item, integer ``ts``), it accepts exactly what
  ``jsonschema`` accepts against ``event.schema.json`` (with the configured types as its
  enum) plus the finite-number rule, on hand-made and generated objects.
* For any bytes, :meth:`EventParser.batch` gives the same events and the same rejections
  (reason, detail, position) as parsing each message alone.
"""

from __future__ import annotations

import copy
import json
import math
from typing import Any

import jsonschema
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from referencing import Registry, Resource

from streams.core.arrays import TypeTable
from streams.core.contract import EventParser
from streams.core.events import Event
from streams.core.messages import Message
from streams.core.outputs import Rejection
from streams.core.params import EngineParams
from streams.core.schema import load_schema

P = EngineParams()
PARSE = EventParser(P.limits, frozenset(P.event_types))
TYPE_INDEX = TypeTable.of(P).index
NAMES = tuple(P.event_types)
OK: dict[str, Any] = {
    "event_id": "e1",
    "user_id": "u1",
    "item_id": "i1",
    "type": "click",
    "ts": 1_700_000_000_000,
}


def _reference() -> jsonschema.Draft202012Validator:
    """``event.schema.json`` as ``jsonschema`` reads it, the configured types as its enum."""
    event = copy.deepcopy(dict(load_schema("event.schema.json")))
    event["properties"]["type"]["enum"] = sorted(P.event_types)
    reg = Registry().with_resources(
        [("item.schema.json", Resource.from_contents(dict(load_schema("item.schema.json"))))]
    )
    return jsonschema.Draft202012Validator(event, registry=reg)


REFERENCE = _reference()


def _contract_ok(obj: object) -> bool:
    """The contract on the fast path's domain: the schema plus finite numbers."""
    if not REFERENCE.is_valid(obj):
        return False
    assert isinstance(obj, dict)
    value = obj.get("value")
    if type(value) is float and not math.isfinite(value):
        return False
    return not (type(value) is int and abs(value) > 1e308)


def _in_domain(obj: object) -> bool:
    """The shapes the fast check must decide alone (a value beyond ±1e300 takes the full path)."""
    if not isinstance(obj, dict) or "item" in obj or type(obj.get("ts")) is not int:
        return False
    value = obj.get("value")
    return not (type(value) is float and not -1e300 < value < 1e300)


def _same_as_alone(values: list[bytes]) -> None:
    messages = [Message(v, topic="events", partition=3, offset=i) for i, v in enumerate(values)]
    cols, rejections = PARSE.batch(messages, TYPE_INDEX)
    alone = [PARSE(m) for m in messages]
    events = [e for e in alone if isinstance(e, Event)]
    assert [cols.event(j, NAMES) for j in range(len(cols))] == events
    assert cols.msg == [i for i, e in enumerate(alone) if isinstance(e, Event)]
    assert rejections == [r for r in alone if isinstance(r, Rejection)]


CORPUS: list[object] = [
    OK,
    {**OK, "value": 4},
    {**OK, "value": 2.5, "text": "red shoes", "extra": [1, {"x": None}]},
    {**OK, "value": float("nan")},
    {**OK, "value": float("inf")},
    {**OK, "value": 10**400},
    {**OK, "value": 10**300},
    {**OK, "value": True},
    {**OK, "value": None},
    {**OK, "value": "5"},
    {**OK, "text": None},
    {**OK, "text": ""},
    {**OK, "text": "y" * 4096},
    {**OK, "text": "y" * 4097},
    {**OK, "text": 3},
    {**OK, "type": "clack"},
    {**OK, "type": ""},
    {**OK, "type": ["click"]},
    {**OK, "ts": -1},
    {**OK, "ts": 0},
    {**OK, "ts": 10**14},
    {**OK, "ts": 10**14 + 1},
    {**OK, "ts": True},
    {**OK, "user_id": ""},
    {**OK, "user_id": "u" * 256},
    {**OK, "user_id": "u" * 257},
    {**OK, "user_id": 7},
    {**OK, "event_id": None},
    {**OK, "item_id": ["i1"]},
    {k: v for k, v in OK.items() if k != "ts"},
    {k: v for k, v in OK.items() if k != "type"},
    [OK],
    "click",
    None,
]


@pytest.mark.parametrize("obj", CORPUS)
def test_the_fast_validator_agrees_with_jsonschema(obj: object) -> None:
    fields = PARSE.plain(obj)
    if _in_domain(obj):
        assert (fields is not None) == _contract_ok(obj)
    elif fields is not None:
        assert _contract_ok(obj)


def test_the_fast_validator_is_on_for_the_bundled_schema() -> None:
    fields = PARSE.plain(OK)
    assert fields is not None
    assert fields[:5] == ("e1", "u1", "i1", "click", 1_700_000_000_000)
    assert math.isnan(fields[5])
    assert fields[6] is None


def test_a_corpus_parses_the_same_in_a_batch() -> None:
    raw = [json.dumps(o, allow_nan=True).encode() for o in CORPUS]
    raw += [
        b" " + json.dumps(OK).encode(),
        json.dumps(OK).encode() + b" ",
        b"\xef\xbb\xbf" + json.dumps(OK).encode(),
        json.dumps(OK).encode("utf-16"),
        json.dumps(OK).encode("utf-16-le"),
        json.dumps({**OK, "text": "caf\u00e9"}, ensure_ascii=False).encode(),
        json.dumps({**OK, "text": "\ud800"}).encode(),
        b'{"event_id":"a","event_id":"b","user_id":"u","item_id":"i","type":"view","ts":1}',
        json.dumps(OK).encode() + json.dumps(OK).encode(),
        b"\xff\xfe",
        b"{",
        b"[" * 60_000,
        b" " * 70_000,
        json.dumps({**OK, "ts": "2024-01-01T01:00:00+01:00"}).encode(),
        json.dumps({**OK, "item": {"item_id": "i1", "title": "t", "category": "a/b"}}).encode(),
        json.dumps({**OK, "item": {"item_id": "i2", "title": "t", "category": "a"}}).encode(),
    ]
    _same_as_alone(raw)


IDS = st.one_of(
    st.text(max_size=4),
    st.sampled_from(["", "x" * 256, "x" * 257]),
    st.integers(-2, 2),
    st.none(),
    st.booleans(),
)
FIELDS = {
    "event_id": IDS,
    "user_id": IDS,
    "item_id": st.one_of(IDS, st.just("i1")),
    "type": st.one_of(st.sampled_from([*P.event_types, "clack", ""]), st.integers(), st.none()),
    "ts": st.one_of(
        st.integers(-3, 10**14 + 3),
        st.sampled_from([0, 10**14, 10**14 + 1, 1.0, 1.5, True]),
        st.floats(allow_nan=True, allow_infinity=True),
        st.sampled_from(["2024-01-01T00:00:00Z", "2024-01-01T00:00:00", "later"]),
    ),
    "value": st.one_of(
        st.integers(),
        st.sampled_from([10**309, -(10**400), 10**300]),
        st.floats(allow_nan=True, allow_infinity=True),
        st.booleans(),
        st.none(),
        st.text(max_size=2),
    ),
    "text": st.one_of(st.text(max_size=6), st.sampled_from(["y" * 4097]), st.integers(), st.none()),
    "item": st.one_of(
        st.fixed_dictionaries(
            {"item_id": st.sampled_from(["i1", "i2"]), "title": st.text(max_size=3)},
            optional={
                "category": st.sampled_from(["a", "a/b", "a/" * 9]),
                "deleted": st.booleans(),
            },
        ),
        st.integers(),
    ),
    "extra": st.one_of(st.integers(), st.floats(allow_nan=True), st.lists(st.none(), max_size=2)),
}
OBJECTS = st.one_of(
    st.fixed_dictionaries({}, optional=FIELDS),
    st.fixed_dictionaries({}, optional=FIELDS).map(lambda over: {**OK, **over}),
    st.fixed_dictionaries({}, optional={"value": FIELDS["value"], "text": FIELDS["text"]}).map(
        lambda over: {**OK, **over}
    ),
)
SETTINGS = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(obj=OBJECTS)
def test_generated_objects_agree_with_jsonschema(obj: dict[str, Any]) -> None:
    fields = PARSE.plain(obj)
    if _in_domain(obj):
        assert (fields is not None) == _contract_ok(obj)
    elif fields is not None:
        assert _contract_ok(obj)
    if fields is not None:
        event = PARSE(Message(json.dumps(obj, allow_nan=True).encode()))
        assert isinstance(event, Event)
        eid, uid, iid, typ, ts, value, text = fields
        assert (eid, uid, iid, typ, ts, text) == (
            event.event_id,
            event.user_id,
            event.item_id,
            event.type,
            event.ts,
            event.text,
        )
        assert (math.isnan(value) and event.value is None) or value == event.value


@SETTINGS
@given(objs=st.lists(OBJECTS, max_size=12))
def test_generated_batches_parse_the_same_as_alone(objs: list[dict[str, Any]]) -> None:
    _same_as_alone([json.dumps(o, allow_nan=True).encode() for o in objs])


def test_what_orjson_reads_differently_takes_the_full_path() -> None:
    """orjson reads wide integers as floats and refuses NaN, a BOM and lone surrogates."""
    head = b'{"event_id":"e1","user_id":"u1","item_id":"i1","type":"click","ts":5'
    _same_as_alone(
        [
            head + b',"value":' + b"9" * 400 + b"}",  # an int too large for a float: rejected
            head + b',"value":' + b"9" * 25 + b"}",  # wider than 64 bits, finite: applied
            head + b',"value":1e305}',  # a float beyond the fast bound: applied
            head + b',"value":NaN}',
            head + b',"value":-Infinity}',
            b"\xef\xbb\xbf" + head + b"}",
            head + b',"text":"\\ud800"}',
            head.replace(b"5", b"18446744073709551616") + b"}",  # ts wider than 64 bits
            head + b"}",
        ]
    )
