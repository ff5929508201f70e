"""``worker``: run a faust worker of the pipeline (one member of the consumer group)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from streams.commands.options import DEFAULT, Bootstrap
from streams.logs import configure_logging
from streams.settings import Settings

__all__ = ["worker"]


def worker(
    bootstrap: Bootstrap = DEFAULT,
    state_dir: Annotated[
        Path | None, typer.Option(help="RocksDB tables and the embedding cache (IT_STATE_DIR).")
    ] = None,
    metrics_port: Annotated[
        int | None, typer.Option(help="Port of /metrics and /health (IT_METRICS_PORT; 0 = any).")
    ] = None,
    config: Annotated[
        Path | None, typer.Option(help="Engine parameters file, JSON or TOML (IT_ENGINE_CONFIG).")
    ] = None,
) -> None:
    """Consume events, keep user state, publish recommendations and drift alerts."""
    overrides: dict[str, object] = {"bootstrap": bootstrap}
    if state_dir is not None:
        overrides["state_dir"] = state_dir
    if metrics_port is not None:
        overrides["metrics_port"] = metrics_port
    if config is not None:
        overrides["engine_config"] = config
    settings = Settings(**overrides)  # type: ignore[arg-type]
    configure_logging(settings.log_level)
    from streams.faust_app.worker import run_worker

    run_worker(settings)
