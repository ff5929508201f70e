from __future__ import annotations

import pytest

from streams.host.staging import BatchStage


def test_reads_prefetched_and_records_changes() -> None:
    stage = BatchStage({"a": b"1", "b": b"2"})
    assert stage["a"] == b"1"
    assert "c" not in stage
    stage["a"] = b"1"  # unchanged value: no change to write
    stage["b"] = b"3"
    stage["c"] = b"4"
    del stage["a"]
    assert stage.changes() == {"a": None, "b": b"3", "c": b"4"}
    assert sorted(stage) == ["b", "c"]
    assert len(stage) == 2
    with pytest.raises(KeyError):
        _ = stage["a"]


def test_empty_values_are_refused() -> None:
    stage = BatchStage({})
    with pytest.raises(ValueError, match="never empty"):
        stage["x"] = b""
