"""``replay``: run item and event files through the very same engine the worker runs.

``--emit updates`` writes what the worker would publish (one recommendation per touched user
per batch, in batch order); ``--emit final`` writes one recommendation per user from the final
state. Drift alerts go to ``--alerts``, rejections (with reasons) to ``--rejections``.
The ``future_ts`` rule uses the wall clock, as the worker does (``--now-ms`` pins it).
"""

from __future__ import annotations

import gc
import os
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field, replace
from enum import StrEnum
from itertools import islice
from pathlib import Path
from typing import IO, Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from encoders.protocol import TextEncoder
from streams.clock import SystemClock
from streams.commands.final_recs import write_final
from streams.commands.options import EngineConfig
from streams.core.config import load_params
from streams.core.engine import Engine, ParsedEvents
from streams.core.messages import Message
from streams.core.params import MAX_K, EngineParams
from streams.datasets.files import count_lines, read_messages
from streams.datasets.parse_ahead import ParsedBatches
from streams.gc_schedule import FullCollections

__all__ = ["Emit", "ReplayStats", "replay", "run_replay"]

err = Console(stderr=True)


class Emit(StrEnum):
    """What ``replay`` writes to ``--out``."""

    UPDATES = "updates"
    FINAL = "final"


@dataclass(slots=True)
class ReplayStats:
    """Counts and timings of one replay."""

    lines: int = 0
    applied: int = 0
    duplicates: int = 0
    rejected: Counter[str] = field(default_factory=Counter)
    """Event lines rejected, by reason: ``lines == applied + duplicates + rejected``."""
    items_rejected: Counter[str] = field(default_factory=Counter)
    """Catalog lines rejected, by reason."""
    alerts: int = 0
    recommendations: int = 0
    seconds: float = 0.0

    @property
    def events_per_s(self) -> float:
        """Event lines per second through the engine (items excluded)."""
        return self.lines / self.seconds if self.seconds > 0 else 0.0


def _batches(messages: Iterable[Message], size: int) -> Iterable[list[Message]]:
    it = iter(messages)
    while batch := list(islice(it, size)):
        yield batch


def run_replay(
    engine: Engine,
    items: Iterable[Message],
    events: Iterable[Message] | ParsedBatches,
    out: IO[bytes],
    *,
    alerts: IO[bytes] | None = None,
    rejections: IO[bytes] | None = None,
    emit: Emit = Emit.FINAL,
    batch_size: int = 32_768,
    now_ms: int | None = None,
    progress: Callable[[int], None] | None = None,
    jobs: int = 1,
    collections: FullCollections | None = None,
) -> ReplayStats:
    """Replay into ``engine``; write recommendations, alerts and rejections as JSON lines.

    ``events`` may be :class:`~streams.datasets.parse_ahead.ParsedBatches` (parsed in a
    child process, with ``batch_size`` lines per batch); the results are the same.
    ``jobs``: processes for the final recommendations (:mod:`streams.commands.final_recs`).
    ``collections``: settled once the items are loaded, then a full garbage collection
    between batches when due (:mod:`streams.gc_schedule`; ``None``: CPython's schedule).
    """
    stats = ReplayStats()
    for item_chunk in _batches(items, batch_size):
        item_res = engine.apply_items(item_chunk)
        for r in item_res.rejections:
            stats.items_rejected[r.reason] += 1
            if rejections is not None:
                rejections.write(r.to_json() + b"\n")
    if collections is not None:
        collections.settle(time.monotonic())
    start = time.perf_counter()
    updates = emit is Emit.UPDATES
    batches: Iterable[tuple[Sequence[Message], ParsedEvents | None]] = (
        events
        if isinstance(events, ParsedBatches)
        else ((chunk, None) for chunk in _batches(events, batch_size))
    )
    for chunk, parsed in batches:
        res = engine.process(chunk, now_ms=now_ms, recommend=updates, parsed=parsed)
        stats.lines += len(chunk)
        stats.applied += res.applied
        stats.duplicates += res.duplicates
        stats.alerts += len(res.alerts)
        for r in res.rejections:
            stats.rejected[r.reason] += 1
            if rejections is not None:
                rejections.write(r.to_json() + b"\n")
        if alerts is not None:
            alerts.writelines(a.to_json() + b"\n" for a in res.alerts)
        if updates:
            out.writelines(rec.to_json() + b"\n" for rec in res.recommendations)
            stats.recommendations += len(res.recommendations)
        if progress is not None:
            progress(len(chunk))
        if collections is not None and collections.due(time.monotonic(), idle=True):
            collections.collect(time.monotonic())
    if not updates:
        stats.recommendations += write_final(engine, out, jobs=jobs)
    stats.seconds = time.perf_counter() - start
    return stats


def _encoder() -> TextEncoder:
    from encoders.factory import build_encoder
    from encoders.settings import EncoderSettings

    return build_encoder(EncoderSettings())


def replay(
    items: Annotated[Path, typer.Option(exists=True, dir_okay=False, help="Items JSONL.")],
    events: Annotated[Path, typer.Option(exists=True, dir_okay=False, help="Events JSONL.")],
    out: Annotated[Path, typer.Option(dir_okay=False, help="Recommendations JSONL to write.")],
    alerts: Annotated[
        Path | None, typer.Option(dir_okay=False, help="Drift alerts JSONL to write.")
    ] = None,
    rejections: Annotated[
        Path | None, typer.Option(dir_okay=False, help="Rejected lines (with reasons) JSONL.")
    ] = None,
    emit: Annotated[
        Emit,
        typer.Option(
            help="updates: what the worker publishes; final: one per user from the final state."
        ),
    ] = Emit.FINAL,
    k: Annotated[
        int | None, typer.Option(min=1, max=MAX_K, help="Items per recommendation.")
    ] = None,
    config: EngineConfig = None,
    batch_size: Annotated[int, typer.Option(min=1, help="Event lines per batch.")] = 32_768,
    now_ms: Annotated[
        int | None, typer.Option(help="Pin 'now' for the future_ts rule (default: wall clock).")
    ] = None,
    parse_ahead: Annotated[
        bool,
        typer.Option(help="Read and validate the events file in a second process (2+ cores)."),
    ] = (os.cpu_count() or 1) > 1,
    jobs: Annotated[
        int,
        typer.Option(min=1, help="Processes for the final recommendations (--emit final)."),
    ] = min(os.cpu_count() or 1, 8),
    gc_full_every_s: Annotated[
        float,
        typer.Option(
            min=0,
            help="Seconds between full garbage collections, run between batches once the "
            "items are loaded (0: CPython's own schedule).",
        ),
    ] = 600.0,
) -> None:
    """Replay item and event files through the engine; write recommendations and alerts."""
    _distinct_outputs(
        {"--items": items, "--events": events},
        {"--out": out, "--alerts": alerts, "--rejections": rejections},
    )
    params: EngineParams = load_params(config)
    if k is not None:
        params = replace(params, recommend=replace(params.recommend, k=k))
    now = SystemClock().now_ms() if now_ms is None else now_ms
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with ExitStack() as stack:
        # started first: the child's start-up overlaps loading the model
        event_source: Iterable[Message] | ParsedBatches = (
            stack.enter_context(ParsedBatches(events, params, batch_size))
            if parse_ahead
            else read_messages(events)
        )
        engine = Engine(params, _encoder())
        gc.collect()  # what start-up left (modules, the model) out of the GC's full passes,
        gc.freeze()  # as the worker does; unfrozen when done, so exit collects it as usual
        stack.callback(gc.unfreeze)
        collections = FullCollections(gc_full_every_s)
        stack.callback(collections.release)
        total = count_lines(events)
        out_f = stack.enter_context(out.open("wb"))
        alerts_f = stack.enter_context(alerts.open("wb")) if alerts else None
        rej_f = stack.enter_context(rejections.open("wb")) if rejections else None
        bar = stack.enter_context(Progress(*columns, console=err, transient=True))
        task = bar.add_task("replaying events", total=total)
        stats = run_replay(
            engine,
            read_messages(items),
            event_source,
            out_f,
            alerts=alerts_f,
            rejections=rej_f,
            emit=emit,
            batch_size=batch_size,
            now_ms=now,
            progress=lambda n: bar.advance(task, n),
            jobs=jobs,
            collections=collections,
        )
    rejected = sum(stats.rejected.values())
    err.print(
        f"{stats.lines} event lines: {stats.applied} applied, {stats.duplicates} duplicates, "
        f"{rejected} rejected {dict(stats.rejected)}; {stats.alerts} drift alerts; "
        f"{stats.recommendations} recommendations ({emit.value})"
    )
    if stats.items_rejected:
        n = sum(stats.items_rejected.values())
        err.print(f"{n} catalog lines rejected {dict(stats.items_rejected)}")
    if (rejected or stats.items_rejected) and rejections is None:
        err.print("the rejected lines, with their reasons: --rejections FILE")
    err.print(f"throughput: {stats.events_per_s:,.0f} events/s ({stats.seconds:.2f} s)")


def _distinct_outputs(inputs: dict[str, Path], outputs: dict[str, Path | None]) -> None:
    """Refuse an output file that is an input (opening it for writing empties it before it
    is read) or another output. Not a file (``/dev/null``, a pipe): nothing to protect."""
    seen: dict[Path, str] = {path.resolve(): name for name, path in inputs.items()}
    for name, path in outputs.items():
        if path is None or (path.exists() and not path.is_file()):
            continue
        where = path.resolve()
        if where in seen:
            raise typer.BadParameter(f"{path} is also {seen[where]}", param_hint=name)
        seen[where] = name
