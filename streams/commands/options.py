"""Options shared by every command."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from streams.settings import DEFAULT_BOOTSTRAP

__all__ = ["Bootstrap", "EngineConfig"]

Bootstrap = Annotated[
    str,
    typer.Option(
        "--bootstrap",
        envvar="IT_BOOTSTRAP",
        help="Kafka bootstrap servers, HOST:PORT[,HOST:PORT].",
        show_default=True,
    ),
]

EngineConfig = Annotated[
    Path | None,
    typer.Option(
        "--config",
        exists=True,
        dir_okay=False,
        envvar="IT_ENGINE_CONFIG",
        help="Engine parameters (JSON or TOML); default: the worker's IT_ENGINE_CONFIG.",
    ),
]
"""The offline commands' parameters file: the worker's, unless given."""

DEFAULT = DEFAULT_BOOTSTRAP
