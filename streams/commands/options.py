"""Options shared by every command."""

from __future__ import annotations

from typing import Annotated

import typer

from streams.settings import DEFAULT_BOOTSTRAP

__all__ = ["Bootstrap"]

Bootstrap = Annotated[
    str,
    typer.Option(
        "--bootstrap",
        envvar="IT_BOOTSTRAP",
        help="Kafka bootstrap servers, HOST:PORT[,HOST:PORT].",
        show_default=True,
    ),
]

DEFAULT = DEFAULT_BOOTSTRAP
