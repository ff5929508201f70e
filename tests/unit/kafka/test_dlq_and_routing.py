from __future__ import annotations

import json

import jsonschema
from hypothesis import given
from hypothesis import strategies as st

from streams.core.schema import load_schema
from streams.kafka.dlq import DeadLetter, decode_dead_letter
from streams.kafka.routing import route_event, route_item


@given(st.binary(max_size=200), st.one_of(st.none(), st.binary(max_size=20)))
def test_dead_letter_keeps_the_original_bytes(value: bytes, key: bytes | None) -> None:
    dl = DeadLetter(
        reason="malformed_json",
        detail="x",
        value=value,
        key=key,
        topic="events",
        partition=2,
        offset=9,
        rejected_at_ms=5,
    )
    assert decode_dead_letter(dl.to_json()) == dl
    assert dict(dl.headers())["dlq.reason"] == b"malformed_json"


def test_events_route_by_type_and_key_by_user() -> None:
    ev = {"event_id": "e", "user_id": "u1", "item_id": "i", "type": "purchase", "ts": 1}
    r = route_event(json.dumps(ev).encode())
    assert (r.topic, r.key) == ("events.purchase", b"u1")
    ev["type"] = "rating"
    assert route_event(json.dumps(ev).encode()).topic == "events"


def test_bad_lines_still_have_a_route() -> None:
    assert route_event(b"{not json").topic == "events"
    assert route_event(b"[1, 2]").key is None
    assert route_event(b'{"user_id": 5, "type": "click"}').key is None
    assert route_item(b'{"item_id": "i9"}').key == b"i9"
    assert route_event(b'{"user_id": "\\ud800", "type": "view"}').key is None  # not text
    assert route_item(b'{"item_id": "\\ud800"}').key == route_item(b'{"item_id": "\\ud800"}').key
    assert (route_item(b'{"item_id": "\\ud800"}').key or b"").startswith(b"no-item-id:")
    unkeyed = route_item(b"nope").key  # a compacted topic refuses a record without a key
    assert unkeyed is not None
    assert unkeyed.startswith(b"no-item-id:")
    assert unkeyed == route_item(b"nope").key != route_item(b'{"item_id": ""}').key


@given(
    st.binary(max_size=50),
    st.one_of(st.none(), st.binary(max_size=20)),
    st.sampled_from(["malformed_json", "processing_error", "too_late"]),
)
def test_a_dead_letter_is_what_its_schema_says(
    value: bytes, key: bytes | None, reason: str
) -> None:
    schema = dict(load_schema("dead_letter.schema.json"))
    dl = DeadLetter(reason, "x", value, key, "events.click", 3, 7, 1_700_000_000_000)
    jsonschema.Draft202012Validator(schema).validate(json.loads(dl.to_json()))
