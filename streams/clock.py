"""The ``Clock`` port: wall-clock time for the shell only (latency metrics, dead-letter stamps).

The core never reads a clock: decay, drift and recommendations run on event time.
"""

from __future__ import annotations

import time
from typing import Protocol

__all__ = ["Clock", "SystemClock"]


class Clock(Protocol):
    """Milliseconds since the epoch."""

    def now_ms(self) -> int:
        """The current time."""
        ...


class SystemClock:
    """The machine's clock."""

    def now_ms(self) -> int:
        """``time.time()`` in milliseconds."""
        return time.time_ns() // 1_000_000
