"""Validation at the boundary: every rejection reason, and the schemas drive the validator."""

from __future__ import annotations

import json
from typing import Any

import jsonschema
import pytest
from referencing import Registry, Resource

from streams.core.contract import REASONS, EventParser, ItemParser, iso_to_ms
from streams.core.errors import SchemaError
from streams.core.events import Event, Item
from streams.core.outputs import Rejection
from streams.core.params import EngineParams, LimitParams
from streams.core.schema import Invalid, compile_schema, load_schema
from tests.unit.core.helpers import event, msg

P = EngineParams()
PARSE = EventParser(P.limits, frozenset(P.event_types))
ITEMS = ItemParser(P.limits)
OK = event("e1", "u1", "i1", 1_700_000_000_000)


def _reason(value: dict[str, Any] | bytes) -> str:
    out = PARSE(msg(value, partition=2, offset=7))
    assert isinstance(out, Rejection)
    assert out.reason in REASONS
    assert (out.partition, out.offset) == (2, 7)
    return out.reason


def test_a_valid_event() -> None:
    ev = PARSE(msg({**OK, "value": 4, "text": "red shoes", "extra": [1]}))
    assert ev == Event("e1", "u1", "i1", "click", 1_700_000_000_000, 4.0, "red shoes")


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"ts": "2024-01-01T00:00:00"}, "bad_ts"),
        ({"ts": "yesterday"}, "bad_ts"),
        ({"ts": -1}, "bad_ts"),
        ({"ts": 1.5}, "wrong_type"),
        ({"ts": True}, "wrong_type"),
        ({"type": "clack"}, "unknown_type"),
        ({"user_id": ""}, "empty_id"),
        ({"user_id": 7}, "wrong_type"),
        ({"item_id": "x" * 257}, "id_too_long"),
        ({"text": "y" * 4097}, "text_too_long"),
        ({"value": "5"}, "wrong_type"),
        ({"item": {"item_id": "other", "title": "t", "category": "a"}}, "item_mismatch"),
        ({"item": {"item_id": "i1", "title": "t"}}, "missing_field"),
        ({"item": {"item_id": "i1", "title": "t", "category": "a/" * 9}}, "bad_category"),
        ({"item": {"item_id": "i1", "title": "t", "category": "a", "tags": [1]}}, "wrong_type"),
    ],
)
def test_field_rejections(change: dict[str, Any], reason: str) -> None:
    assert _reason({**OK, **change}) == reason


def test_missing_fields() -> None:
    for name in ("event_id", "user_id", "item_id", "type", "ts"):
        bad = dict(OK)
        del bad[name]
        assert _reason(bad) == "missing_field"


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"{", "malformed_json"),
        (b"\xff\xfe", "malformed_json"),
        (b"[1, 2]", "not_an_object"),
        (
            b'{"event_id":"e","user_id":"u","item_id":"i","type":"click","ts":1,"value":NaN}',
            "not_finite",
        ),
        (
            b'{"event_id":"e","user_id":"u","item_id":"i","type":"click","ts":1,"value":1e400}',
            "not_finite",
        ),
        (
            b'{"event_id":"e","user_id":"u","item_id":"i","type":"click","ts":1,"value":-Infinity}',
            "not_finite",
        ),
        (b" " * 70_000, "oversized"),
    ],
)
def test_byte_level_rejections(raw: bytes, reason: str) -> None:
    assert _reason(raw) == reason


def test_iso_timestamps() -> None:
    ev = PARSE(msg({**OK, "ts": "2024-01-01T01:00:00+01:00"}))
    assert isinstance(ev, Event)
    assert ev.ts == iso_to_ms("2024-01-01T00:00:00Z") == 1_704_067_200_000


def test_limits_come_from_params() -> None:
    small = EventParser(LimitParams(max_id_length=3), frozenset({"click"}))
    out = small(msg({**OK, "user_id": "abcd"}))
    assert isinstance(out, Rejection)
    assert out.reason == "id_too_long"


def test_items_and_deletes() -> None:
    it = ITEMS(msg({"item_id": "a", "title": "T", "category": "x/y", "tags": ["t"]}))
    assert it == Item("a", "T", "", "x/y", ("t",))
    gone = ITEMS(msg({"item_id": "a", "deleted": True}))
    assert isinstance(gone, Item)
    assert gone.deleted
    bad = ITEMS(msg({"item_id": "a", "deleted": False}))
    assert isinstance(bad, Rejection)
    assert bad.reason == "missing_field"
    assert Item.from_mapping(json.loads(it.to_json())) == it


def test_schema_defaults_match_the_limits() -> None:
    schema = load_schema("event.schema.json")
    assert schema["properties"]["user_id"]["maxLength"] == LimitParams().max_id_length
    assert schema["properties"]["text"]["maxLength"] == LimitParams().max_text_length


def test_unsupported_schema_keywords_fail_loudly() -> None:
    with pytest.raises(SchemaError):
        compile_schema({"type": "object", "patternProperties": {}}, LimitParams())


def _reference_validator() -> jsonschema.Draft202012Validator:
    reg = Registry().with_resources(
        (name, Resource.from_contents(dict(load_schema(name))))
        for name in ("event.schema.json", "item.schema.json")
    )
    return jsonschema.Draft202012Validator(dict(load_schema("event.schema.json")), registry=reg)


@pytest.mark.parametrize(
    "obj",
    [
        OK,
        {**OK, "value": 2.5, "text": "q"},
        {**OK, "ts": "2024-01-01T00:00:00Z"},
        {**OK, "item": {"item_id": "i1", "title": "t", "category": "a/b", "tags": ["x"]}},
        {**OK, "item": {"item_id": "i1", "deleted": True}},
        {**OK, "user_id": ""},
        {**OK, "ts": True},
        {**OK, "value": "x"},
        {**OK, "item": {"item_id": "i1"}},
        {**OK, "item": {"item_id": "i1", "title": "t", "category": "c", "tags": "x"}},
        {k: v for k, v in OK.items() if k != "ts"},
    ],
)
def test_agrees_with_the_reference_jsonschema_validator(obj: dict[str, Any]) -> None:
    ours = compile_schema("event.schema.json", LimitParams(), {"event_types": frozenset(["click"])})
    reference_ok = _reference_validator().is_valid(obj)
    try:
        ours(obj)
    except Invalid:
        assert not reference_ok
    else:
        assert reference_ok


@pytest.mark.parametrize(
    "raw",
    [
        json.dumps({**OK, "text": "\ud800"}).encode(),  # an escaped lone surrogate
        json.dumps({**OK, "user_id": "u\udfff"}).encode(),
        json.dumps({**OK, "context": {"k": ["\ud800"]}}).encode(),  # at any depth
        json.dumps({**OK, "context": {"\ud800": 1}}).encode(),  # in a key
        json.dumps(OK).encode()[:-1] + b',"text":"\xed\xa0\x80"}',  # an encoded one (not UTF-8)
        json.dumps(
            {**OK, "item": {"item_id": OK["item_id"], "title": "\ud800", "category": "a"}}
        ).encode(),
    ],
)
def test_a_lone_surrogate_is_not_text(raw: bytes) -> None:
    """json reads them; they cannot be encoded, tokenized or published downstream."""
    assert _reason(raw) == "malformed_json"


def test_a_surrogate_pair_is_text_and_a_lone_one_fails_an_item_too() -> None:
    ev = PARSE(msg({**OK, "text": "\ud83d\ude00"}))  # json joins a proper pair: one emoji
    assert isinstance(ev, Event)
    bad = ITEMS(msg({"item_id": "a", "title": "\ud800", "category": "x"}))
    assert isinstance(bad, Rejection)
    assert bad.reason == "malformed_json"


@pytest.mark.parametrize("ts", ["1960-01-01T00:00:00Z", "9999-12-31T23:59:59Z"])
def test_an_iso_time_outside_the_schemas_bounds_is_a_bad_ts(ts: str) -> None:
    """The same bounds as epoch milliseconds (0 to 1e14: 1970 to about 5138)."""
    assert _reason({**OK, "ts": ts}) == "bad_ts"
    assert _reason({**OK, "ts": -5}) == "bad_ts"
    edge = PARSE(msg({**OK, "ts": "1970-01-01T00:00:00Z"}))
    assert isinstance(edge, Event)
    assert edge.ts == 0


def test_an_inline_item_cannot_delete_the_item() -> None:
    """It would mark the item known for the event while the catalog drops it."""
    assert _reason({**OK, "item": {"item_id": OK["item_id"], "deleted": True}}) == "invalid_field"
