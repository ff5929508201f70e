"""``topics create|list``: apply the declarative topic spec, show what the cluster has."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from confluent_kafka.admin import AdminClient
from rich.console import Console
from rich.table import Table

from streams.commands.options import DEFAULT, Bootstrap
from streams.kafka.topics import apply_topics, list_topics, load_topic_specs
from streams.settings import KafkaSettings

__all__ = ["app"]

app = typer.Typer(help="Create and list the pipeline's topics.", no_args_is_help=True)
console = Console()


def _admin(settings: KafkaSettings) -> AdminClient:
    return AdminClient(settings.client_config())


@app.command("create")
def create(
    bootstrap: Bootstrap = DEFAULT,
    spec: Annotated[Path | None, typer.Option(help="Topic spec (JSON).")] = None,
    prefix: Annotated[str | None, typer.Option(help="Prefix for every topic name.")] = None,
    partitions: Annotated[
        int | None, typer.Option(min=1, help="Override every topic's partition count.")
    ] = None,
) -> None:
    """Create the topics of the spec that do not exist yet (idempotent)."""
    settings = KafkaSettings(bootstrap=bootstrap)
    specs = load_topic_specs(
        spec or settings.topics_spec,
        prefix=settings.topic_prefix if prefix is None else prefix,
        partitions=partitions,
    )
    result = apply_topics(_admin(settings), specs)
    for s in specs:
        console.print(f"{result[s.name]:>8}  {s.name}  partitions={s.partitions}")


@app.command("list")
def list_(bootstrap: Bootstrap = DEFAULT) -> None:
    """List the cluster's topics and their partition counts."""
    table = Table("topic", "partitions")
    for name, n in list_topics(_admin(KafkaSettings(bootstrap=bootstrap))).items():
        table.add_row(name, str(n))
    console.print(table)
