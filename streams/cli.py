"""The ``interest-tracker`` command line (also ``python -m streams``)."""

from __future__ import annotations

import typer

from streams.commands import produce, tail, topics

__all__ = ["app", "main"]

app = typer.Typer(
    name="interest-tracker",
    help="Real-time per-user interest tracking on Kafka.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(topics.app, name="topics")
app.command("produce")(produce.produce)
app.command("tail")(tail.tail)


def main() -> None:
    """Entry point of the console script."""
    app()
