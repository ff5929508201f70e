"""The evaluation runner's mechanics, on the hashing twin encoder (a unit test: no model)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from streams.core.contract import EventParser
from streams.core.engine import Engine
from streams.core.events import Event
from streams.core.messages import Message
from streams.core.params import EngineParams
from streams.datasets import GeneratorParams, generate, write_dataset
from streams.datasets.files import read_lines, read_messages
from streams.evaluation.drift import SwitchTruth, drift_detection, read_drift_truth
from streams.evaluation.methods import METHODS
from streams.evaluation.report import EvalReport
from streams.evaluation.runner import EvalConfig, run_evaluation, served_scores
from streams.evaluation.split import holdout_split
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
        assert m.hr_full is not None
        assert m.ndcg_full is not None
        assert 0 <= m.ndcg_full <= m.hr_full <= 1
        if m.method == "served":  # a list ranks only its own items: no sampled metrics
            assert m.hr_sampled is None
            assert m.ndcg_sampled is None
            continue
        assert m.hr_sampled is not None
        assert m.ndcg_sampled is not None
        assert m.hr_full <= m.hr_sampled <= 1  # a subset of the candidates is easier
        assert m.ndcg_full <= m.ndcg_sampled
    assert {c[0] for c in calls} == {"items", "train", "score"}
    assert all(done <= total for _, done, total in calls)
    assert calls[-1] == ("score", report.evaluated * len(METHODS), report.evaluated * len(METHODS))
    assert report.drift is not None
    assert isinstance(report.drift["switched"], int)
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
        [*read_messages(tiny / "items.jsonl"), Message(b'{"item_id": "x"}')],
        events,
        config=EvalConfig(methods=("popularity",)),
    )
    assert report.rejected == 2
    assert report.items_rejected == 1
    assert report.lines == len(events)
    assert np.isfinite(report.method("popularity").hr_full or np.nan)


def test_no_evaluated_user_and_no_alert_give_no_figures_rather_than_zeros(tiny: Path) -> None:
    """Without an evaluated user the hit rates are unknown, not 0; without an alert (or a
    switch) so are the drift shares; counts stay counts."""
    report, _ = _run(tiny, min_train=10_000)
    assert report.evaluated == 0
    assert report.skipped == report.users
    for m in report.methods:
        assert (m.users, m.hr_full, m.ndcg_full) == (0, None, None)
        assert (m.hr_sampled, m.ndcg_sampled) == (None, None)
    drift = drift_detection([], [], users=["a"])
    assert drift == {
        "switched": 0,
        "alerts": 0,
        "recall": None,
        "precision": None,
        "false_alarm_users": 0.0,
        "median_delay_h": None,
    }
    assert drift_detection([SwitchTruth("a", 5)], [], users=["a"])["false_alarm_users"] is None
    out = json.loads(json.dumps(report.to_dict()))
    assert out["methods"][0]["hr_full"] is None
    assert isinstance(out["drift"]["switched"], int)


@pytest.mark.parametrize("k", [5, 20])
def test_served_scores_the_published_lists(tiny: Path, k: int) -> None:
    """``served``: HR@K and NDCG@K of the lists ``Engine.recommend`` publishes, computed
    here from the trained engine's lists directly. For K beyond ``recommend.k`` (10) the
    lists are K long (else every hit past the 10th place would count as a miss)."""
    engine = Engine(EngineParams(), HashingEncoder(dim=64))
    events = list(read_messages(tiny / "events.jsonl"))
    report = run_evaluation(
        engine,
        list(read_messages(tiny / "items.jsonl")),
        events,
        config=EvalConfig(k=k, batch_size=333, score_chunk=16, methods=("served", "engine")),
    )
    parse = EventParser(engine.params.limits, frozenset(engine.params.event_types))
    held = holdout_split([e if isinstance(e, Event) else None for e in map(parse, events)]).held_out
    rp = dataclasses.replace(engine.params.recommend, k=max(10, k))
    publishing = Engine(
        dataclasses.replace(engine.params, recommend=rp),
        engine.encoder,
        users=engine.users,
        catalog=engine.catalog,
        signals=engine.signals,
    )
    lists = {
        r.user_id: [it.item_id for it in r.items]
        for r in publishing.recommend([h.user_id for h in held])
    }
    assert {len(v) for v in lists.values()} == {max(10, k)}
    pos = [
        lists[h.user_id].index(h.item_id) if h.item_id in lists[h.user_id] else None for h in held
    ]
    assert len(held) == report.evaluated
    served = report.method("served")
    assert served.hr_full == pytest.approx(np.mean([p is not None and p < k for p in pos]))
    want_ndcg = np.mean([1 / np.log2(p + 2) if p is not None and p < k else 0.0 for p in pos])
    assert served.ndcg_full == pytest.approx(want_ndcg)
    assert served.hr_full is not None
    assert 0 < served.hr_full < 1
    assert served.hr_sampled is None


def test_served_scores_rank_the_list_in_order() -> None:
    engine = Engine(EngineParams(), HashingEncoder(dim=64))
    items = [
        Message(json.dumps({"item_id": f"i{i}", "title": f"thing {i}", "category": "a/b"}).encode())
        for i in range(30)
    ]
    engine.apply_items(items)
    scores = served_scores(engine, ["nobody"])  # a cold user: the trending list
    (listed,) = engine.recommend(["nobody"])
    rows = [engine.catalog.index[it.item_id] for it in listed.items]
    assert len(rows) == engine.params.recommend.k
    assert scores[0, rows].tolist() == list(range(len(rows), 0, -1))
    assert np.count_nonzero(scores) == len(rows)
