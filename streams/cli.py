"""The ``interest-tracker`` command line (also ``python -m streams``)."""

from __future__ import annotations

import typer

from streams.commands import topics

__all__ = ["app", "main"]

app = typer.Typer(
    name="interest-tracker",
    help="Real-time per-user interest tracking on Kafka.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(topics.app, name="topics")


def main() -> None:
    """Entry point of the console script."""
    app()
