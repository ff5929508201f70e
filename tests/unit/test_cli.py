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


def _said(output: str) -> str:
    """A usage error's text without rich's box and line breaks."""
    return " ".join(output.replace("│", " ").split())


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
        (["evaluate", "--k", "1001"], "--k"),  # refused before any work, not after training
        (["evaluate", "--seed", "-1"], "--seed"),
        (["generate", "--items", "3", "--users", "2"], "at least one item per leaf"),
    ],
)
def test_bad_values_are_usage_errors(tmp_path: Path, args: list[str], says: str) -> None:
    where = _files(tmp_path) if args[0] == "evaluate" else ["--out", str(tmp_path / "g")]
    res = CliRunner().invoke(app, [*args, *where])
    assert res.exit_code == 2
    assert says in " ".join(res.output.split()).replace("│ ", "")


@pytest.mark.parametrize("output", ["--out", "--alerts", "--rejections"])
@pytest.mark.parametrize("same_as", ["--items", "--events"])
def test_replay_refuses_to_write_over_its_input(tmp_path: Path, output: str, same_as: str) -> None:
    """Opening an output empties it before the inputs are read: the events (or the catalog)
    were lost, and the run reported 0 lines."""
    files = _files(tmp_path)
    source = Path(files[files.index(same_as) + 1])
    source.write_text('{"kept": true}\n')
    args = ["replay", *files, "--out", str(tmp_path / "r.jsonl")]
    if output == "--out":
        args[-1] = str(source)
    else:
        args += [output, str(source)]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 2
    assert f"is also {same_as}" in _said(res.output)
    assert source.read_text() == '{"kept": true}\n'


def test_replay_refuses_two_outputs_in_one_file(tmp_path: Path) -> None:
    out = str(tmp_path / "r.jsonl")
    res = CliRunner().invoke(app, ["replay", *_files(tmp_path), "--out", out, "--alerts", out])
    assert res.exit_code == 2
    assert "is also --out" in _said(res.output)


def test_a_malformed_drift_truth_file_is_a_usage_error(tmp_path: Path) -> None:
    truth = tmp_path / "users_truth.jsonl"  # the file beside drift_truth.jsonl
    truth.write_text('{"user_id": "u1", "home": "a/b"}\n')
    res = CliRunner().invoke(app, ["evaluate", *_files(tmp_path), "--drift-truth", str(truth)])
    assert res.exit_code == 2
    assert "drift truth line 1" in _said(res.output)


def test_generate_into_a_file_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "a-file"
    target.write_text("")
    assert (
        _main(monkeypatch, "generate", "--users", "5", "--items", "100", "--out", str(target)) == 2
    )
    err = capsys.readouterr().err
    assert err.startswith("interest-tracker: error: ")
    assert "Traceback" not in err
