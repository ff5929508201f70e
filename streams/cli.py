"""The ``interest-tracker`` command line (also ``python -m streams``)."""

from __future__ import annotations

import typer

from streams.commands import evaluate, generate, produce, replay, tail, topics, worker

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


def main() -> None:
    """Entry point of the console script."""
    app()
