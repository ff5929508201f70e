"""The ``interest-tracker`` command line (also ``python -m streams``)."""

from __future__ import annotations

import typer

from streams.commands import evaluate, generate, produce, replay, tail, topics, worker
from streams.core.errors import ConfigError, SchemaError

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
app.command("worker")(worker.worker)
app.command("generate")(generate.generate)
app.command("evaluate")(evaluate.evaluate)
app.command("replay")(replay.replay)


USER_ERRORS = (
    ConfigError,
    SchemaError,
    FileNotFoundError,
    FileExistsError,
    NotADirectoryError,
    IsADirectoryError,
    PermissionError,
)
"""What a user's input or environment gets wrong (a bad parameters file, a missing path): one
line and exit status 2, as for a bad option, not a traceback."""


def main() -> None:
    """Entry point of the console script."""
    try:
        app()
    except USER_ERRORS as exc:
        typer.echo(f"interest-tracker: error: {exc}", err=True)
        raise SystemExit(2) from None
