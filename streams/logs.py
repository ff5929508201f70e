"""The log format of the long-running processes (the worker and its engine process)."""

from __future__ import annotations

import logging

__all__ = ["LOG_FORMAT", "configure_logging"]

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(process)d] %(message)s"


def configure_logging(level: str) -> None:
    """Log to stderr at ``level`` in :data:`LOG_FORMAT` (a no-op if already configured)."""
    logging.basicConfig(level=level, format=LOG_FORMAT)
