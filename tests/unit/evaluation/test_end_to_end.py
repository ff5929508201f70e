"""``evaluate`` end to end with the real encoder: the blend beats every single signal."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from streams.commands.evaluate import evaluate
from streams.datasets import GeneratorParams, write_dataset
from streams.datasets.generator import generate

app = typer.Typer()
app.command()(evaluate)  # the only command: invoked without its name

DATA = GeneratorParams(users=300, items=500, categories=4, seed=0, events_per_user=40.0)


@pytest.mark.slow
def test_engine_beats_each_single_signal_baseline_on_full_rank_hr10(tmp_path: Path) -> None:
    write_dataset(generate(DATA), tmp_path)
    args = ["--items", str(tmp_path / "items.jsonl")]
    args += ["--events", str(tmp_path / "events.jsonl"), "--json"]
    args += ["--drift-truth", str(tmp_path / "drift_truth.jsonl")]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    hr = {m["method"]: m["hr_full"] for m in report["methods"]}
    assert report["evaluated"] > 0.95 * DATA.users
    assert report["k"] == 10
    for baseline in ("popularity", "covis", "semantic", "category"):
        assert hr["engine"] > hr[baseline], (baseline, hr)
    drift = report["drift"]
    assert drift["switched"] > 10
    # Alerts single out the users who switched, far beyond chance. (How many switches are
    # caught and how soon is the drift detector's to tune; the data side is in
    # tests/unit/datasets/test_structure.py::test_switches_are_detectable_from_the_events_alone.)
    assert drift["recall"] > 3 * drift["false_alarm_users"], drift
    assert drift["precision"] > 3 * drift["switched"] / report["users"], drift
