"""Delivery: late arrivals, resent duplicates, and the file's arrival order.

Each event arrives at its event time, except a ``late_fraction`` of them that arrive
``uniform(1 s, max_delay_ms)`` later — so in arrival order they come after newer events, both
globally and within their user. A ``duplicate_fraction`` of events is sent a second time (same
``event_id``, same content) ``uniform(0, max_delay_ms)`` after its first arrival. Lines are
ordered by arrival time (ties: event order, first sends before resends).

>>> d = plan_delivery(np.array([0, 10, 20]), 0.0, 1000, 0.0, np.random.default_rng(0))
>>> d.order.tolist(), d.duplicate.tolist()
([0, 1, 2], [False, False, False])
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from streams.datasets.sampling import IntArray

__all__ = ["Delivery", "plan_delivery"]

BoolArray = npt.NDArray[np.bool_]


@dataclass(frozen=True, slots=True)
class Delivery:
    """Per file line: the event it carries, whether it is a resend, its arrival time (ms)."""

    order: IntArray
    duplicate: BoolArray
    arrival: IntArray
    late: BoolArray

    @property
    def lines(self) -> int:
        """Number of lines in the events file."""
        return int(self.order.size)


def plan_delivery(
    ts: IntArray,
    late_fraction: float,
    max_delay_ms: int,
    duplicate_fraction: float,
    rng: np.random.Generator,
) -> Delivery:
    """Arrival order for events with event times ``ts`` (see the module docstring)."""
    for name, f in (("late_fraction", late_fraction), ("duplicate_fraction", duplicate_fraction)):
        if not 0.0 <= f <= 1.0:
            raise ValueError(f"{name} must be in [0, 1], got {f}")
    if max_delay_ms < 1000 and late_fraction > 0:
        raise ValueError(f"max_delay_ms must be >= 1000 for late arrivals, got {max_delay_ms}")
    n = ts.size
    late = rng.random(n) < late_fraction
    delay = np.where(late, rng.integers(1000, max(max_delay_ms, 1000) + 1, n), 0)
    arrival = ts + delay
    dup = np.flatnonzero(rng.random(n) < duplicate_fraction)
    resend = arrival[dup] + rng.integers(0, max(max_delay_ms, 0) + 1, dup.size)
    events = np.concatenate([np.arange(n), dup])
    times = np.concatenate([arrival, resend])
    is_dup = np.concatenate([np.zeros(n, dtype=bool), np.ones(dup.size, dtype=bool)])
    order = np.lexsort((is_dup, events, times))
    return Delivery(
        order=events[order].astype(np.int64),
        duplicate=is_dup[order],
        arrival=times[order].astype(np.int64),
        late=late,
    )
