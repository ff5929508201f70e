"""``generate``: write a synthetic catalog and event stream with known structure to a directory."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from streams.datasets.params import GeneratorParams
from streams.datasets.synthetic import generate_dataset

__all__ = ["generate"]

console = Console(stderr=True)
_D = GeneratorParams()


def generate(
    out: Annotated[Path, typer.Option(help="Output directory (created if missing).")],
    users: Annotated[int, typer.Option(min=1, help="Number of users.")] = _D.users,
    items: Annotated[int, typer.Option(min=1, help="Number of catalog items.")] = _D.items,
    drift_fraction: Annotated[
        float, typer.Option(min=0.0, max=1.0, help="Share of users whose interests switch.")
    ] = _D.drift_fraction,
    seed: Annotated[int, typer.Option(help="Random seed (same seed, same files).")] = _D.seed,
    events_per_user: Annotated[
        float, typer.Option(help="Target mean events per user.")
    ] = _D.events_per_user,
    categories: Annotated[
        int, typer.Option(min=1, max=8, help="Top-level categories.")
    ] = _D.categories,
    fanout: Annotated[int, typer.Option(min=1, max=3, help="Children per category node.")] = (
        _D.fanout
    ),
    depth: Annotated[int, typer.Option(min=1, max=3, help="Category path depth.")] = _D.depth,
    zipf: Annotated[float, typer.Option(min=0.0, help="Zipf exponent of popularity.")] = _D.zipf,
    bundles: Annotated[
        int | None, typer.Option(min=1, help="Co-bought bundles (default: items / 4).")
    ] = None,
    mission_rate: Annotated[
        float, typer.Option(min=0.0, max=1.0, help="Share of sessions that are bundle missions.")
    ] = _D.mission_rate,
    taste: Annotated[
        float, typer.Option(min=0.0, max=1.0, help="Share of leaf visits on the preferred noun.")
    ] = _D.taste,
    noise: Annotated[
        float, typer.Option(min=0.0, max=1.0, help="Share of visits on a random item.")
    ] = _D.noise,
    late_fraction: Annotated[
        float, typer.Option(min=0.0, max=1.0, help="Share of events delivered late.")
    ] = _D.late_fraction,
    max_delay_ms: Annotated[
        int, typer.Option(min=1000, help="Largest delivery delay of a late event or resend.")
    ] = _D.max_delay_ms,
    duplicate_fraction: Annotated[
        float, typer.Option(min=0.0, max=1.0, help="Share of events sent twice.")
    ] = _D.duplicate_fraction,
    query_rate: Annotated[
        float, typer.Option(min=0.0, max=1.0, help="Share of sessions opened by a search query.")
    ] = _D.query_rate,
    inline_fraction: Annotated[
        float, typer.Option(min=0.0, max=1.0, help="Share of events carrying their item inline.")
    ] = _D.inline_fraction,
    span_days: Annotated[float, typer.Option(min=0.001, help="Days the events span.")] = (
        _D.span_days
    ),
    deleted_items: Annotated[
        int, typer.Option(min=0, help="Extra items upserted, then deleted (no events).")
    ] = _D.deleted_items,
) -> None:
    """Generate items.jsonl, events.jsonl, drift_truth.jsonl, users_truth.jsonl, manifest.json."""
    try:
        params = GeneratorParams(
            users=users,
            items=items,
            seed=seed,
            events_per_user=events_per_user,
            drift_fraction=drift_fraction,
            categories=categories,
            fanout=fanout,
            depth=depth,
            zipf=zipf,
            bundles=bundles,
            mission_rate=mission_rate,
            taste=taste,
            noise=noise,
            late_fraction=late_fraction,
            max_delay_ms=max_delay_ms,
            duplicate_fraction=duplicate_fraction,
            query_rate=query_rate,
            inline_fraction=inline_fraction,
            span_days=span_days,
            deleted_items=deleted_items,
        )
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc
    started = time.perf_counter()
    try:
        meta = generate_dataset(params, out)
    except ValueError as exc:  # sizes the taxonomy cannot take (fewer items than leaves, ...)
        raise typer.BadParameter(str(exc)) from exc
    elapsed = time.perf_counter() - started
    c = meta["counts"]
    console.print(
        f"wrote {out}: {c['items']} items, {c['users']} users, {c['events']} events "
        f"({c['lines']} lines: {c['duplicates']} resent, {c['late']} late), "
        f"{c['drift_users']} interest switches in {elapsed:.2f} s"
    )
