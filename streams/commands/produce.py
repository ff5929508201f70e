"""``produce``: replay item and event files into the topics, keyed for the worker."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Annotated

import typer
from confluent_kafka import KafkaError, Message, Producer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from streams.commands.options import DEFAULT, Bootstrap
from streams.datasets.files import count_lines, read_lines
from streams.kafka.output import OutRecord, produce_blocking
from streams.kafka.routing import PRODUCER_DEFAULTS, Route, route_event, route_item
from streams.settings import KafkaSettings

__all__ = ["produce", "produce_files"]

console = Console(stderr=True)


class _Pacer:
    """Holds a producer to ``rate`` records per second (0: as fast as possible)."""

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self.start = time.monotonic()
        self.sent = 0

    def tick(self) -> None:
        self.sent += 1
        if self.rate <= 0:
            return
        ahead = self.sent / self.rate - (time.monotonic() - self.start)
        if ahead > 0.001:
            time.sleep(ahead)


def produce_files(
    settings: KafkaSettings,
    items: Path | None,
    events: Path | None,
    *,
    rate: float = 0.0,
    progress: bool = True,
    single_topic: bool = False,
) -> dict[str, int]:
    """Send every line of ``items`` then ``events``; returns counts per logical topic.

    ``single_topic`` sends every event to ``events`` instead of the per-type topics: Kafka
    keeps a user's order only within one topic, so backfills that must be applied in file
    order (replay identity) use one topic.

    Blocks until every record is acknowledged by the broker; raises ``RuntimeError`` if any
    delivery failed.
    """
    producer = Producer({**settings.client_config(), **PRODUCER_DEFAULTS})
    failures: list[KafkaError] = []

    def on_delivery(err: KafkaError | None, _msg: Message) -> None:
        if err is not None:
            failures.append(err)

    counts: dict[str, int] = {}
    jobs = [(p, route_item) for p in [items] if p] + [(p, route_event) for p in [events] if p]
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        disable=not progress,
    ) as bar:
        for path, router in jobs:
            task = bar.add_task(f"{path.name}", total=count_lines(path))
            pacer = _Pacer(rate if router is route_event else 0.0)
            for n, line in enumerate(read_lines(path), 1):
                route: Route = router(line)
                if single_topic and router is route_event:
                    route = Route("events", route.key)
                produce_blocking(
                    producer, OutRecord(settings.topic(route.topic), route.key, line), on_delivery
                )
                counts[route.topic] = counts.get(route.topic, 0) + 1
                pacer.tick()
                if n % 1000 == 0:
                    producer.poll(0)
                    bar.update(task, completed=n)
            bar.update(task, completed=count_lines(path))
            producer.flush(60)
    remaining = producer.flush(60)
    if failures or remaining:
        raise RuntimeError(f"{len(failures)} deliveries failed, {remaining} unacknowledged")
    return counts


def produce(
    bootstrap: Bootstrap = DEFAULT,
    items: Annotated[Path | None, typer.Option(help="Items JSONL (to `items`).")] = None,
    events: Annotated[Path | None, typer.Option(help="Events JSONL (to the event topics).")] = None,
    rate: Annotated[float, typer.Option(help="Events per second; 0 = as fast as possible.")] = 0,
    single_topic: Annotated[
        bool,
        typer.Option(
            "--single-topic", help="All events to `events` (keeps each user's file order)."
        ),
    ] = False,
    generate: Annotated[
        bool, typer.Option("--generate", help="Generate a synthetic data set and send it.")
    ] = False,
    users: Annotated[int, typer.Option(help="--generate: users.")] = 500,
    n_items: Annotated[int, typer.Option("--n-items", help="--generate: items.")] = 2000,
    drift_fraction: Annotated[float, typer.Option(help="--generate: users who drift.")] = 0.2,
    seed: Annotated[int, typer.Option(help="--generate: random seed.")] = 7,
) -> None:
    """Replay item and event files into Kafka, keyed by user (murmur2), with a progress bar."""
    settings = KafkaSettings(bootstrap=bootstrap)
    if generate:
        from streams.datasets.synthetic import GeneratorParams, generate_dataset

        out = Path(tempfile.mkdtemp(prefix="interest-tracker-gen-"))
        generate_dataset(
            GeneratorParams(users=users, items=n_items, drift_fraction=drift_fraction, seed=seed),
            out,
        )
        items, events = out / "items.jsonl", out / "events.jsonl"
        console.print(f"generated {out}")
    if items is None and events is None:
        raise typer.BadParameter("give --items and/or --events, or --generate")
    counts = produce_files(settings, items, events, rate=rate, single_topic=single_topic)
    for topic, n in sorted(counts.items()):
        console.print(f"{n:>9}  {settings.topic(topic)}")
