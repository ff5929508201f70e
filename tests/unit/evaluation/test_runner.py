"""The evaluation runner's mechanics, on the hashing twin encoder (a unit test: no model)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from streams.core.engine import Engine
from streams.core.messages import Message
from streams.core.params import EngineParams
from streams.datasets import GeneratorParams, generate, write_dataset
from streams.datasets.files import read_lines, read_messages
from streams.evaluation.drift import read_drift_truth
from streams.evaluation.methods import METHODS
from streams.evaluation.report import EvalReport
from streams.evaluation.runner import EvalConfig, run_evaluation
from tests.contract.encoder_doubles import HashingEncoder

TINY = GeneratorParams(users=80, items=200, seed=4, events_per_user=30.0, drift_fraction=0.3)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("tiny")
    write_dataset(generate(TINY), root)
    return root


def _run(root: Path, **kw: object) -> tuple[EvalReport, list[tuple[str, int, int]]]:
    calls: list[tuple[str, int, int]] = []
    report = run_evaluation(
        Engine(EngineParams(), HashingEncoder(dim=64)),
        list(read_messages(root / "items.jsonl")),
        list(read_messages(root / "events.jsonl")),
        config=EvalConfig(batch_size=333, score_chunk=16, **kw),  # type: ignore[arg-type]
        progress=lambda phase, done, total: calls.append((phase, done, total)),
        drift_truth=read_drift_truth(read_lines(root / "drift_truth.jsonl")),
    )
    return report, calls


def test_report_counts_and_metric_ranges(tiny: Path) -> None:
    report, calls = _run(tiny)
    assert [m.method for m in report.methods] == list(METHODS)
    assert report.users == TINY.users
    assert report.evaluated + report.skipped == report.users
    assert report.evaluated > 0.9 * TINY.users
    assert report.lines == len(list(read_lines(tiny / "events.jsonl")))
    assert report.evaluated < report.lines - report.train_lines
    assert report.rejected == 0
    assert report.duplicates > 0
    assert report.items == TINY.items  # the deleted extra items are not rankable
    for m in report.methods:
        assert m.users == report.evaluated
        assert 0 <= m.ndcg_full <= m.hr_full <= 1
        assert m.hr_full <= m.hr_sampled <= 1  # a subset of the candidates is easier
        assert m.ndcg_full <= m.ndcg_sampled
    assert {c[0] for c in calls} == {"items", "train", "score"}
    assert all(done <= total for _, done, total in calls)
    assert calls[-1] == ("score", report.evaluated * len(METHODS), report.evaluated * len(METHODS))
    assert report.drift is not None
    assert report.drift["switched"] > 0
    json.dumps(report.to_dict())


def test_same_seed_same_report_and_the_seed_moves_only_sampled_metrics(tiny: Path) -> None:
    a, _ = _run(tiny, seed=1)
    b, _ = _run(tiny, seed=1)
    c, _ = _run(tiny, seed=2)
    assert a == b
    for ma, mc in zip(a.methods, c.methods, strict=True):
        assert (ma.hr_full, ma.ndcg_full) == (mc.hr_full, mc.ndcg_full)
    assert any(ma.hr_sampled != mc.hr_sampled for ma, mc in zip(a.methods, c.methods, strict=True))


def test_batch_cuts_do_not_change_the_result(tiny: Path) -> None:
    a, _ = _run(tiny, methods=("engine",))
    report = run_evaluation(
        Engine(EngineParams(), HashingEncoder(dim=64)),
        list(read_messages(tiny / "items.jsonl")),
        list(read_messages(tiny / "events.jsonl")),
        config=EvalConfig(batch_size=10_000, score_chunk=1000, methods=("engine",)),
    )
    assert report.methods == a.methods


def test_unknown_methods_and_bad_lines(tiny: Path) -> None:
    with pytest.raises(ValueError, match="unknown method"):
        _run(tiny, methods=("engine", "magic"))
    events = [*read_messages(tiny / "events.jsonl"), Message(b"{not json"), Message(b"[]")]
    report = run_evaluation(
        Engine(EngineParams(), HashingEncoder(dim=64)),
        list(read_messages(tiny / "items.jsonl")),
        events,
        config=EvalConfig(methods=("popularity",)),
    )
    assert report.rejected == 2
    assert report.lines == len(events)
    assert np.isfinite(report.method("popularity").hr_full)
