"""Engine parameter files and the output value objects' JSON (validated by their schemas)."""

from __future__ import annotations

import doctest
import json
from pathlib import Path

import jsonschema
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import streams.core.config
import streams.core.params
from streams.core.config import load_params, params_from_mapping, params_to_mapping
from streams.core.errors import ConfigError
from streams.core.outputs import DriftAlert, Interest, RecItem, Recommendation, Rejection
from streams.core.params import EngineParams
from streams.core.schema import load_schema


def test_doctests() -> None:
    for mod in (streams.core.config, streams.core.params):
        assert doctest.testmod(mod).failed == 0


def test_toml_and_json_files(tmp_path: Path) -> None:
    toml = tmp_path / "p.toml"
    toml.write_text("[decay]\nshort_half_life_ms = 60000\n[event_types.share]\nweight = 2.0\n")
    p = load_params(toml)
    assert p.decay.short_half_life_ms == 60_000
    assert p.event_types["share"].weight == 2.0
    assert "click" in p.event_types
    js = tmp_path / "p.json"
    js.write_text(
        json.dumps({"weights": {"covis": 0, "semantic": 1}, "event_types": {"view": False}})
    )
    q = load_params(js)
    assert q.weights.covis == 0.0
    assert "view" not in q.event_types
    assert load_params(None) == EngineParams()


@pytest.mark.parametrize(
    "data",
    [
        {"nope": 1},
        {"decay": {"short_half_life_ms": "1"}},
        {"decay": {"short_half_life_ms": 10, "long_half_life_ms": 5}},
        {"recommend": {"diversity": "random"}},
        {"weights": {"covis": 0, "semantic": 0, "category": 0, "trending": 0}},
        {"event_types": {"x": {"value": "cube"}}},
        {"drift": {"enter": 0.2, "exit": 0.3}},
        {"event_types": {"click": {"weight": float("nan")}}},  # TOML and JSON take nan
        {"text_weight": float("inf")},
        {"recommend": {"k": 1001}},
    ],
)
def test_bad_params(data: dict[str, object]) -> None:
    with pytest.raises(ConfigError):
        params_from_mapping(data)


def test_a_bad_value_is_named_once() -> None:
    with pytest.raises(ConfigError) as err:
        params_from_mapping({"weights": {"covis": 0, "semantic": 0, "category": 0, "trending": 0}})
    assert str(err.value) == "weights: >= 0, not all 0"
    with pytest.raises(ConfigError, match=r"recommend\.k in \[1, 1000\]"):
        params_from_mapping({"recommend": {"k": 0}})


@pytest.mark.parametrize(
    "data",
    [
        {"recommend": {"k": 3, "level_weights": [1, 1]}},
        {"event_types": {"view": False}},  # a removed default type stays removed
        {"event_types": {"dislike": False, "rating": None, "share": {"weight": 0.5}}},
    ],
)
def test_params_round_trip(data: dict[str, object]) -> None:
    """The parse-ahead child rebuilds the parent's parameters from this mapping, and a
    type's position is its index in the parsed columns: the same types, in the same order."""
    p = params_from_mapping(data)
    again = params_from_mapping(json.loads(json.dumps(params_to_mapping(p))))
    assert again == p
    assert list(again.event_types) == list(p.event_types)


def test_bad_file(tmp_path: Path) -> None:
    f = tmp_path / "p.json"
    f.write_text("[1]")
    with pytest.raises(ConfigError, match="top level"):
        load_params(f)
    with pytest.raises(ConfigError, match="cannot read"):
        load_params(tmp_path / "missing.json")


def _valid(name: str, data: bytes) -> None:
    jsonschema.Draft202012Validator(dict(load_schema(name))).validate(json.loads(data))


def test_recommendation_json() -> None:
    rec = Recommendation(
        "u", 5, (RecItem("i", 0.5, ("covis:j", "trending")),), (Interest("a", 0.25, 1.0),)
    )
    data = rec.to_json()
    assert data.startswith(b'{"user_id":"u","ts":5,"items":')
    _valid("recommendation.schema.json", data)
    assert Recommendation.from_json(data) == rec


_text = st.text(max_size=6)
_num = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.floats(-2.0, 2.0),
    st.sampled_from([0.0, -0.0, 1e-4, 9.9999995e-5, 5e-7, 999999999.9999996, 1e9, 0.1 + 0.2]),
)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.tuples(_text, _num, st.lists(_text, max_size=3)), max_size=4),
    st.lists(st.tuples(_text, _num, _num), max_size=3),
    _text,
    st.integers(-(2**62), 2**62),
)
def test_recommendation_json_is_json_dumps_of_the_dict(
    items: list[tuple[str, float, list[str]]],
    interests: list[tuple[str, float, float]],
    user: str,
    ts: int,
) -> None:
    rec = Recommendation(
        user,
        ts,
        tuple(RecItem(i, s, tuple(r)) for i, s, r in items),
        tuple(Interest(c, a, b) for c, a, b in interests),
    )
    expected = json.dumps(rec.to_dict(), ensure_ascii=False, separators=(",", ":")).encode()
    assert rec.to_json() == expected


def test_alert_and_rejection_json() -> None:
    alert = DriftAlert("u", 9, 0.7, "medium", ("a",), ("b",), 0.1, 4)
    _valid("drift_alert.schema.json", alert.to_json())
    assert DriftAlert.from_json(alert.to_json()) == alert
    rej = Rejection("too_late", "x", b"\xff", "t", 1, 2)
    _valid("rejection.schema.json", rej.to_json())
    assert json.loads(rej.to_json())["value_b64"] == "/w=="
