"""The generated files: determinism, the event/item contract, manifest and counts."""

from __future__ import annotations

import dataclasses
import math
from collections import Counter
from pathlib import Path

import pytest

from streams.core.contract import EventParser, ItemParser
from streams.core.events import Event, Item
from streams.core.messages import Message
from streams.core.params import EngineParams
from streams.datasets import GeneratorParams, generate, write_dataset
from streams.datasets.files import count_lines, read_messages
from streams.datasets.synthetic import generate_dataset
from tests.unit.datasets.conftest import SMALL, Written

FILES = ("items.jsonl", "events.jsonl", "drift_truth.jsonl", "users_truth.jsonl", "manifest.json")


def test_same_seed_gives_byte_identical_files(small: Written, tmp_path: Path) -> None:
    generate_dataset(SMALL, tmp_path)
    for name in FILES:
        assert (tmp_path / name).read_bytes() == (small.root / name).read_bytes(), name


def test_another_seed_gives_other_events(small: Written, tmp_path: Path) -> None:
    write_dataset(generate(dataclasses.replace(SMALL, seed=12)), tmp_path)
    assert (tmp_path / "events.jsonl").read_bytes() != (small.root / "events.jsonl").read_bytes()


def test_every_item_line_passes_the_contract(small: Written) -> None:
    parse = ItemParser(EngineParams().limits)
    items = [parse(m) for m in read_messages(small.root / "items.jsonl")]
    assert all(isinstance(i, Item) for i in items), [i for i in items if not isinstance(i, Item)]
    live = [i for i in items if isinstance(i, Item) and not i.deleted]
    deleted = [i for i in items if isinstance(i, Item) and i.deleted]
    assert len(deleted) == SMALL.deleted_items
    assert len(live) == SMALL.items + SMALL.deleted_items  # the extra ones are upserted first
    assert all(i.category.count("/") == 2 and i.title and i.description for i in live)
    assert all(len(i.tags) >= 3 for i in live)


def test_every_event_line_passes_the_contract(small: Written) -> None:
    params = EngineParams()
    parse = EventParser(params.limits, frozenset(params.event_types))
    parsed = [parse(m) for m in read_messages(small.root / "events.jsonl")]
    bad = [p for p in parsed if not isinstance(p, Event)]
    assert not bad, bad[:3]
    events = [p for p in parsed if isinstance(p, Event)]
    assert (
        len(events) == small.manifest["counts"]["lines"] == count_lines(small.root / "events.jsonl")
    )
    assert all(e.value is None or math.isfinite(e.value) for e in events)
    inline = [e for e in events if e.item is not None]
    assert inline
    assert all(e.item is not None and e.item.item_id == e.item_id for e in inline)
    assert any(e.text for e in events)


def test_events_refer_only_to_live_catalog_items(small: Written) -> None:
    items = small.records("items.jsonl")
    deleted = {r["item_id"] for r in items if r.get("deleted")}
    live = {r["item_id"] for r in items} - deleted
    assert {r["item_id"] for r in small.records("events.jsonl")} <= live


def test_type_mix_values_and_queries(small: Written) -> None:
    events = small.records("events.jsonl")
    types = Counter(r["type"] for r in events)
    assert types["view"] > types["click"] > types["add_to_cart"] > types["purchase"] > 0
    assert types["rating"] > 0
    assert types["dislike"] > 0
    assert set(types) == {"view", "click", "add_to_cart", "purchase", "rating", "dislike"}
    ratings = [r["value"] for r in events if r["type"] == "rating"]
    assert set(ratings) <= {1, 2, 3, 4, 5}
    assert all(isinstance(v, int) for v in ratings)
    assert all(r["value"] > 0 for r in events if r["type"] == "view")
    with_text = [r for r in events if "text" in r]
    assert all(r["type"] == "view" and r["text"].strip() for r in with_text)


def test_manifest_counts_match_the_files(small: Written) -> None:
    c = small.manifest["counts"]
    events = small.records("events.jsonl")
    assert c["lines"] == len(events)
    assert c["events"] == len({r["event_id"] for r in events})
    assert c["users"] == SMALL.users == len(small.records("users_truth.jsonl"))
    assert c["drift_users"] == len(small.records("drift_truth.jsonl"))
    assert sum(c["by_type"].values()) == c["events"]
    assert c["with_text"] == len({r["event_id"] for r in events if "text" in r})
    assert c["duplicates"] == len(events) - c["events"]
    ts = [r["ts"] for r in events]
    assert small.manifest["ts_range"] == [min(ts), max(ts)]
    assert small.manifest["params"]["seed"] == SMALL.seed
    assert abs(c["events"] / c["users"] - SMALL.events_per_user) < 0.25 * SMALL.events_per_user


def test_file_messages_skip_blank_lines_and_name_the_file(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    path.write_bytes(b'{"a": 1}\r\n\n  \n{"b": 2}')
    msgs = list(read_messages(path))
    assert [m.value for m in msgs] == [b'{"a": 1}', b'{"b": 2}']
    assert msgs[0] == Message(value=b'{"a": 1}', topic="events.jsonl")
    assert count_lines(path) == 2


@pytest.mark.parametrize(
    "bad",
    [
        {"users": 0},
        {"drift_fraction": 1.5},
        {"categories": 9},
        {"fanout": 0},
        {"events_per_user": 2.0},
        {"bundle_max_size": 2},
        {"max_delay_ms": 10},
        {"noise": -0.1},
    ],
)
def test_params_are_validated(bad: dict[str, float]) -> None:
    with pytest.raises(ValueError, match=next(iter(bad)).split("_")[0]):
        GeneratorParams(**bad)  # type: ignore[arg-type]
