"""``tail``: follow an output topic: a live pretty view, or JSON lines to a file."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any, TextIO

import typer
from confluent_kafka import OFFSET_BEGINNING, OFFSET_END, Consumer, TopicPartition
from rich.console import Console

from streams.commands.options import DEFAULT, Bootstrap
from streams.settings import KafkaSettings

__all__ = ["follow", "tail"]

console = Console()


def _render(topic: str, body: dict[str, Any]) -> str:
    user = body.get("user_id", "?")
    if "items" in body:
        items = ", ".join(
            f"{it['item_id']}[dim]({it['score']:.2f} {'/'.join(it.get('reasons', [])[:2])})[/dim]"
            for it in body["items"][:5]
        )
        cats = ", ".join(str(c.get("category", c)) for c in body.get("interests", [])[:3])
        return f"[bold cyan]{user}[/] [green]{cats}[/] → {items}"
    if "severity" in body:
        return (
            f"[bold red]drift[/] [bold]{user}[/] {body.get('severity')} "
            f"score={body.get('score', 0):.2f} {body.get('from')} → {body.get('to')} "
            f"evidence={body.get('evidence')}"
        )
    if "reason" in body:
        return f"[yellow]dead letter[/] {body['reason']}: {body.get('detail', '')[:80]}"
    return f"{topic}: {body}"


def follow(
    settings: KafkaSettings,
    topics: Sequence[str],
    *,
    out: TextIO | None,
    idle_timeout: float,
    from_beginning: bool = True,
    max_messages: int = 0,
) -> int:
    """Print or write every record of ``topics`` until ``idle_timeout`` seconds pass without one.

    ``idle_timeout <= 0`` follows forever (until Ctrl-C). Returns the number of records seen.
    """
    consumer = Consumer(
        {
            **settings.client_config(),
            "group.id": f"interest-tracker-tail-{uuid.uuid4().hex[:8]}",
            "enable.auto.commit": False,
        }
    )
    start = OFFSET_BEGINNING if from_beginning else OFFSET_END
    assignment = []
    for topic in topics:
        full = settings.topic(topic)
        meta = consumer.list_topics(full, timeout=30).topics.get(full)
        if meta is None or meta.error is not None:
            consumer.close()
            raise typer.BadParameter(f"topic {full} does not exist")
        assignment += [TopicPartition(full, p, start) for p in meta.partitions]
    consumer.assign(assignment)
    seen, last = 0, time.monotonic()
    try:
        while idle_timeout <= 0 or time.monotonic() - last < idle_timeout:
            msg = consumer.poll(0.5)
            if msg is None or msg.error() is not None:
                continue
            last = time.monotonic()
            seen += 1
            value = msg.value() or b""
            if out is not None:
                out.write(value.decode("utf-8", "replace") + "\n")
            else:
                try:
                    console.print(_render(msg.topic() or "", json.loads(value)), highlight=False)
                except (ValueError, KeyError, TypeError):
                    console.print(repr(value[:200]))
            if max_messages and seen >= max_messages:
                break
    except KeyboardInterrupt:
        pass
    finally:
        consumer.close()
    return seen


def tail(
    bootstrap: Bootstrap = DEFAULT,
    topic: Annotated[
        list[str] | None,
        typer.Option(help="recommendations | interest-drift | events.dlq; repeat for several."),
    ] = None,
    out: Annotated[Path | None, typer.Option(help="Write JSON lines here instead.")] = None,
    idle_timeout: Annotated[
        float, typer.Option(help="Stop after this many idle seconds (0: never).")
    ] = 0,
    from_beginning: Annotated[
        bool, typer.Option("--from-beginning/--from-end", help="Where to start.")
    ] = True,
) -> None:
    """Follow an output topic."""
    settings = KafkaSettings(bootstrap=bootstrap)
    topics: list[str] = topic or ["recommendations"]
    if out is None:
        n = follow(
            settings, topics, out=None, idle_timeout=idle_timeout, from_beginning=from_beginning
        )
    else:
        with out.open("w") as f:
            n = follow(
                settings, topics, out=f, idle_timeout=idle_timeout, from_beginning=from_beginning
            )
    Console(stderr=True).print(f"{n} records from {', '.join(map(settings.topic, topics))}")
