"""The ``generate`` command writes the files (its own app: ``streams.cli`` imports the worker)."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from typer.testing import CliRunner

from streams.commands.generate import generate

app = typer.Typer()
app.command()(generate)  # the only command: invoked without its name


def test_generate_command_writes_a_dataset(tmp_path: Path) -> None:
    out = tmp_path / "gen"
    args = ["--users", "30", "--items", "120", "--out", str(out), "--seed", "3"]
    result = CliRunner().invoke(app, [*args, "--drift-fraction", "0.5", "--late-fraction", "0"])
    assert result.exit_code == 0, result.output
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["counts"]["users"] == 30
    assert manifest["counts"]["late"] == 0
    assert manifest["params"]["drift_fraction"] == 0.5
    for name in ("items.jsonl", "events.jsonl", "drift_truth.jsonl", "users_truth.jsonl"):
        assert (out / name).stat().st_size > 0, name


def test_generate_command_refuses_impossible_settings(tmp_path: Path) -> None:
    args = ["--out", str(tmp_path), "--events-per-user", "1"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code != 0
    assert not (tmp_path / "events.jsonl").exists()
