from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from streams.kafka.dlq import DeadLetter, decode_dead_letter
from streams.kafka.routing import route_event, route_item


@given(st.binary(max_size=200), st.one_of(st.none(), st.binary(max_size=20)))
def test_dead_letter_keeps_the_original_bytes(value: bytes, key: bytes | None) -> None:
    dl = DeadLetter(
        reason="invalid_json",
        detail="x",
        value=value,
        key=key,
        topic="events",
        partition=2,
        offset=9,
        rejected_at_ms=5,
    )
    assert decode_dead_letter(dl.to_json()) == dl
    assert dict(dl.headers())["dlq.reason"] == b"invalid_json"


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
    assert route_item(b"nope").key is None
