"""``evaluate``: hold-out HR@K / NDCG@K of the engine and its single-signal baselines."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from streams.commands.options import EngineConfig
from streams.core.params import MAX_K
from streams.evaluation.methods import METHODS, method_weights
from streams.evaluation.report import EvalReport

__all__ = ["evaluate"]

err = Console(stderr=True)
out = Console()
_PHASES = {"items": "encoding items", "train": "training", "score": "scoring"}


def _table(report: EvalReport) -> Table:
    k = report.k
    table = Table(
        "method",
        "users",
        f"HR@{k}",
        f"NDCG@{k}",
        f"HR@{k} ({report.negatives} neg.)",
        f"NDCG@{k} ({report.negatives} neg.)",
        title="Hold-out evaluation (last positive event per user)",
        caption=(
            f"{report.items} items, {report.lines} event lines ({report.train_lines} trained on, "
            f"{report.rejected} rejected, {report.duplicates} duplicates), {report.users} users "
            f"({report.evaluated} evaluated, {report.skipped} skipped), seed {report.seed}"
            + (f"; {report.items_rejected} catalog lines rejected" if report.items_rejected else "")
        ),
    )
    for m in report.methods:
        table.add_row(
            m.method,
            str(m.users),
            _score(m.hr_full, 4),
            _score(m.ndcg_full, 4),
            _score(m.hr_sampled, 4),
            _score(m.ndcg_sampled, 4),
        )
    return table


def _score(value: float | None, digits: int, unit: str = "") -> str:
    """A figure as printed; ``—`` where there is none (nothing to measure it on)."""
    return "—" if value is None else f"{value:.{digits}f}{unit}"


def _drift_table(drift: dict[str, int | float | None]) -> Table:
    table = Table("switched", "alerts", "recall", "precision", "false-alarm users", "median delay")
    table.title = "Drift alerts against the planted switches"
    table.add_row(
        str(drift["switched"]),
        str(drift["alerts"]),
        _score(drift["recall"], 3),
        _score(drift["precision"], 3),
        _score(drift["false_alarm_users"], 3),
        _score(drift["median_delay_h"], 1, " h"),
    )
    return table


def evaluate(
    items: Annotated[Path, typer.Option(exists=True, dir_okay=False, help="Items JSONL.")],
    events: Annotated[Path, typer.Option(exists=True, dir_okay=False, help="Events JSONL.")],
    k: Annotated[int, typer.Option(min=1, max=MAX_K, help="Cut-off of HR@K and NDCG@K.")] = 10,
    negatives: Annotated[
        int, typer.Option(min=1, help="Sampled negatives per user (sampled metrics).")
    ] = 100,
    seed: Annotated[int, typer.Option(min=0, help="Seed of the negative sampling.")] = 0,
    config: EngineConfig = None,
    drift_truth: Annotated[
        Path | None,
        typer.Option(exists=True, dir_okay=False, help="drift_truth.jsonl: score drift alerts."),
    ] = None,
    methods: Annotated[str, typer.Option(help="Comma-separated methods to compare.")] = ",".join(
        METHODS
    ),
    batch_size: Annotated[int, typer.Option(min=1, help="Event lines per engine batch.")] = 8192,
    min_train: Annotated[
        int, typer.Option(min=1, help="Fewest training events of an evaluated user.")
    ] = 3,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Train on all but each user's last positive event; rank the held-out items."""
    # Imported here: the encoder pulls in torch, which `--help` and other commands do not need.
    from encoders.factory import build_encoder
    from encoders.settings import EncoderSettings
    from streams.core.config import load_params
    from streams.core.engine import Engine
    from streams.core.params import EngineParams
    from streams.datasets.files import read_lines, read_messages
    from streams.evaluation.drift import read_drift_truth
    from streams.evaluation.runner import EvalConfig, run_evaluation

    try:
        cfg = EvalConfig(
            k=k,
            negatives=negatives,
            seed=seed,
            batch_size=batch_size,
            min_train=min_train,
            methods=tuple(m.strip() for m in methods.split(",") if m.strip()),
        )
        for m in cfg.methods:
            method_weights(m, EngineParams().weights)  # an unknown name, before any work
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc
    params = load_params(config) if config is not None else EngineParams()
    try:
        truth = read_drift_truth(read_lines(drift_truth)) if drift_truth is not None else None
    except ValueError as exc:  # e.g. users_truth.jsonl given for drift_truth.jsonl
        raise typer.BadParameter(str(exc), param_hint="--drift-truth") from exc
    engine = Engine(params, build_encoder(EncoderSettings()))
    with Progress(
        TextColumn("{task.description:<16}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
    ) as bar:
        tasks = {p: bar.add_task(name, total=None, start=False) for p, name in _PHASES.items()}
        started: set[str] = set()

        def progress(phase: str, done: int, total: int) -> None:
            if phase not in started:
                started.add(phase)
                bar.start_task(tasks[phase])
            bar.update(tasks[phase], completed=done, total=total)

        report = run_evaluation(
            engine,
            list(read_messages(items)),
            list(read_messages(events)),
            config=cfg,
            progress=progress,
            drift_truth=truth,
        )
    if as_json:
        out.print_json(json.dumps(report.to_dict()))
        return
    out.print(_table(report))
    if report.drift is not None:
        out.print(_drift_table(report.drift))
