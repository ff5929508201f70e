"""The replay command: the engine over files, updates vs final, the CLI wiring."""

from __future__ import annotations

import gc
import io
import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from streams.cli import app
from streams.commands import replay as replay_mod
from streams.commands.replay import Emit, run_replay
from streams.core.config import params_from_mapping
from streams.core.engine import Engine
from streams.core.outputs import Recommendation
from streams.core.params import EngineParams
from streams.datasets.files import read_messages
from streams.datasets.parse_ahead import ParseAheadError, ParsedBatches
from streams.gc_schedule import FullCollections
from tests.contract.encoder_doubles import HashingEncoder
from tests.unit.core.helpers import event, item

T0 = 1_704_067_200_000


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, Path]:
    items = tmp_path / "items.jsonl"
    items.write_text(
        "\n".join(
            json.dumps(i)
            for i in [
                item("a", "red shoes", "s/x"),
                item("b", "blue shoes", "s/x"),
                item("c", "pan", "h/k"),
            ]
        )
        + "\n\n"
    )
    events = tmp_path / "events.jsonl"
    lines = [
        json.dumps(event(f"e{i}", f"u{i % 3}", "abc"[i % 3], T0 + i * 1000)) for i in range(12)
    ]
    lines += ["{not json", lines[0]]
    events.write_text("\n".join(lines) + "\n")
    return items, events


def test_final_writes_one_recommendation_per_user(files: tuple[Path, Path], tmp_path: Path) -> None:
    items, events = files
    out = tmp_path / "recs.jsonl"
    rej = tmp_path / "rej.jsonl"
    with out.open("wb") as o, rej.open("wb") as r:
        stats = run_replay(
            Engine(EngineParams(), HashingEncoder(16)),
            read_messages(items),
            read_messages(events),
            o,
            rejections=r,
            emit=Emit.FINAL,
            batch_size=5,
        )
    recs = [Recommendation.from_json(line) for line in out.read_bytes().splitlines()]
    assert [r.user_id for r in recs] == ["u0", "u1", "u2"]
    assert stats.lines == 14
    assert stats.applied == 12
    assert stats.duplicates == 1
    assert stats.rejected == {"malformed_json": 1}
    assert json.loads(rej.read_bytes())["reason"] == "malformed_json"
    assert stats.events_per_s > 0


def test_catalog_rejections_are_counted_apart_from_the_events(
    files: tuple[Path, Path], tmp_path: Path
) -> None:
    items, events = files
    bad_items = tmp_path / "bad_items.jsonl"
    bad_items.write_bytes(items.read_bytes() + b'{"item_id": "x"}\n{\n')
    with (tmp_path / "o.jsonl").open("wb") as o:
        stats = run_replay(
            Engine(EngineParams(), HashingEncoder(16)),
            read_messages(bad_items),
            read_messages(events),
            o,
            batch_size=5,
        )
    assert stats.items_rejected == {"missing_field": 1, "malformed_json": 1}
    assert stats.rejected == {"malformed_json": 1}  # the events file's own
    assert stats.lines == stats.applied + stats.duplicates + sum(stats.rejected.values())


def test_updates_publish_per_batch(files: tuple[Path, Path], tmp_path: Path) -> None:
    items, events = files
    out = tmp_path / "recs.jsonl"
    with out.open("wb") as o:
        stats = run_replay(
            Engine(EngineParams(), HashingEncoder(16)),
            read_messages(items),
            read_messages(events),
            o,
            emit=Emit.UPDATES,
            batch_size=6,
        )
    assert stats.recommendations == len(out.read_bytes().splitlines()) == 3 + 3


def test_scheduled_full_collections_run_between_batches_and_change_nothing(
    files: tuple[Path, Path],
) -> None:
    items, events = files

    def replay(collections: FullCollections | None) -> bytes:
        out = io.BytesIO()
        run_replay(
            Engine(EngineParams(), HashingEncoder(16)),
            read_messages(items),
            read_messages(events),
            out,
            emit=Emit.UPDATES,
            batch_size=2,
            collections=collections,
        )
        return out.getvalue()

    thresholds = gc.get_threshold()
    schedule = FullCollections(1e-9)  # due after every batch
    try:
        scheduled = replay(schedule)
        assert schedule.active
        assert schedule.collections == 7  # 14 lines in batches of 2
    finally:
        schedule.release()
        gc.unfreeze()
    assert gc.get_threshold() == thresholds
    assert scheduled == replay(None)


def test_cli(files: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(replay_mod, "_encoder", lambda: HashingEncoder(16))
    items, events = files
    cfg = tmp_path / "p.toml"
    cfg.write_text("[recommend]\nk = 1\n")
    args = [
        "replay",
        "--items",
        str(items),
        "--events",
        str(events),
        "--out",
        str(tmp_path / "r.jsonl"),
        "--alerts",
        str(tmp_path / "a.jsonl"),
        "--emit",
        "final",
        "--k",
        "2",
        "--config",
        str(cfg),
    ]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    recs = (tmp_path / "r.jsonl").read_bytes().splitlines()
    assert len(recs) == 3
    assert all(len(json.loads(r)["items"]) <= 2 for r in recs)
    assert (tmp_path / "a.jsonl").exists()


def test_cli_reads_the_workers_engine_config_by_default(
    files: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same parameters as a worker started in the same environment."""
    monkeypatch.setattr(replay_mod, "_encoder", lambda: HashingEncoder(16))
    items, events = files
    cfg = tmp_path / "p.toml"
    cfg.write_text("[recommend]\nk = 1\n")
    out = tmp_path / "r.jsonl"
    args = ["replay", "--items", str(items), "--events", str(events), "--out", str(out)]
    res = CliRunner().invoke(app, args, env={"IT_ENGINE_CONFIG": str(cfg)})
    assert res.exit_code == 0, res.output
    assert {len(json.loads(r)["items"]) for r in out.read_bytes().splitlines()} == {1}


@pytest.mark.parametrize(
    ("emit", "config", "applied"),
    [
        (Emit.UPDATES, {}, 12),
        (Emit.FINAL, {}, 12),
        # a default type removed: the child's types (the columns' indices) are the parent's
        (Emit.FINAL, {"event_types": {"click": False}}, 0),
        (Emit.FINAL, {"event_types": {"view": False}}, 12),
    ],
)
def test_parsing_ahead_in_a_child_gives_the_same_output(
    files: tuple[Path, Path], tmp_path: Path, emit: Emit, config: dict[str, Any], applied: int
) -> None:
    items, events = files
    outs = []
    for ahead in (False, True):
        out, rej = tmp_path / f"recs{ahead}.jsonl", tmp_path / f"rej{ahead}.jsonl"
        engine = Engine(params_from_mapping(config), HashingEncoder(16))
        with (
            out.open("wb") as o,
            rej.open("wb") as r,
            ParsedBatches(events, engine.params, 5) as parsed,
        ):
            stats = run_replay(
                engine,
                read_messages(items),
                parsed if ahead else read_messages(events),
                o,
                rejections=r,
                emit=emit,
                batch_size=5,
            )
        outs.append((out.read_bytes(), rej.read_bytes(), stats.applied, stats.duplicates))
    assert outs[0] == outs[1]
    assert outs[0][2] == applied


def test_a_failing_parse_ahead_child_raises(tmp_path: Path) -> None:
    with (
        ParsedBatches(tmp_path / "missing.jsonl", EngineParams(), 5) as parsed,
        pytest.raises(ParseAheadError, match="FileNotFoundError"),
    ):
        list(parsed)


def test_outputs_that_are_not_files_may_repeat(
    files: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Only files are protected from being written twice (``/dev/null`` is not one)."""
    monkeypatch.setattr(replay_mod, "_encoder", lambda: HashingEncoder(16))
    items, events = files
    args = ["replay", "--items", str(items), "--events", str(events), "--out", "/dev/null"]
    res = CliRunner().invoke(app, [*args, "--alerts", "/dev/null", "--no-parse-ahead"])
    assert res.exit_code == 0, res.output
