"""A user's mistake (a bad option, parameters file or path) gets one line and exit status 2."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from streams.cli import app, main


def _files(tmp: Path) -> list[str]:
    """``--items`` and ``--events``: two empty files."""
    for name in ("i.jsonl", "e.jsonl"):
        (tmp / name).write_text("")
    return ["--items", str(tmp / "i.jsonl"), "--events", str(tmp / "e.jsonl")]


def _main(monkeypatch: pytest.MonkeyPatch, *args: str) -> int:
    monkeypatch.setattr(sys, "argv", ["interest-tracker", *args])
    with pytest.raises(SystemExit) as exit_:
        main()
    return int(exit_.value.code or 0)


@pytest.mark.parametrize(
    ("config", "says"),
    [("[recommend]\nkk = 1\n", "unknown key(s) ['kk']"), ("k ==", "cannot read engine parameters")],
)
def test_a_bad_parameters_file_is_one_line(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    config: str,
    says: str,
) -> None:
    cfg = tmp_path / "p.toml"
    cfg.write_text(config)
    out = str(tmp_path / "r.jsonl")
    code = _main(monkeypatch, "replay", *_files(tmp_path), "--out", out, "--config", str(cfg))
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("interest-tracker: error: ")
    assert says in err
    assert "Traceback" not in err


def test_a_missing_folder_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "no" / "r.jsonl"
    assert _main(monkeypatch, "replay", *_files(tmp_path), "--out", str(out)) == 2
    assert "No such file or directory" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["evaluate", "--methods", "engine,bogus"], "unknown method 'bogus'"),
        (["generate", "--items", "3", "--users", "2"], "at least one item per leaf"),
    ],
)
def test_bad_values_are_usage_errors(tmp_path: Path, args: list[str], says: str) -> None:
    where = _files(tmp_path) if args[0] == "evaluate" else ["--out", str(tmp_path / "g")]
    res = CliRunner().invoke(app, [*args, *where])
    assert res.exit_code == 2
    assert says in " ".join(res.output.split()).replace("│ ", "")
