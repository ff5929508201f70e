"""Full garbage collections when the process chooses, not when CPython's heuristic fires.

CPython runs a full (oldest-generation) collection whenever the objects that survived the
young generations since the last one exceed a quarter of the long-lived ones. A worker's
long-lived heap is mostly user states, whose Python lists of floats and item ids a full pass
visits element by element, and the states churn with every batch: on the bench VM (100k
items, 20k users) the engine process ran one every 1-2 s under load, each taking 150-400 ms
and finding no garbage cycle ("collected 0"), about 9 % of its time. Every such pause stalls
the batches behind it, which is what the latency tail is made of.

:class:`FullCollections` takes the oldest generation over once start-up is done
(:meth:`~FullCollections.settle`: one full collection, then what survived it, the modules,
the model and the catalog, is frozen out of every later pass, and CPython's automatic full
collections are switched off). The process then calls :meth:`~FullCollections.due` and
:meth:`~FullCollections.collect` from its own loop: a full collection every ``every_s``
seconds, taken when the process is idle, or regardless once twice that has passed (so a
saturated process still reclaims cycles). The young generations are collected as before,
and reference counting frees everything that is not in a cycle, so what waits for the next
full collection is cyclic garbage only. ``every_s = 0`` leaves CPython's schedule alone.

:class:`GcPauses` records every collection's pause, by generation, as a histogram.
"""

from __future__ import annotations

import gc
import time
from typing import Any

from prometheus_client import CollectorRegistry, Histogram

__all__ = ["FullCollections", "GcPauses"]

_NEVER = 1_000_000_000
"""A generation-2 threshold no process reaches: young collections between full ones."""

PAUSE_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


class FullCollections:
    """The schedule of one process's full collections (time comes from the caller)."""

    def __init__(self, every_s: float) -> None:
        if every_s < 0:
            raise ValueError(f"every_s must be >= 0, got {every_s}")
        self.every_s = every_s
        self.last: float | None = None  # when the last full collection ran (None: not ours)
        self.collections = 0
        self._saved: tuple[int, int, int] | None = None

    @property
    def active(self) -> bool:
        """Whether this schedule, not CPython's, runs the full collections."""
        return self._saved is not None

    def settle(self, now: float) -> None:
        """Start-up is over: collect, freeze the survivors, take full collections over.

        Called again (e.g. a second start-up step), it collects and freezes again."""
        gc.collect()
        gc.freeze()
        self.last = now
        if self.every_s > 0 and self._saved is None:
            self._saved = gc.get_threshold()
            gen0, gen1, _ = self._saved
            gc.set_threshold(gen0, gen1, _NEVER)

    def until_due(self, now: float) -> float | None:
        """Seconds until the next full collection is due (0: it is); ``None``: CPython's
        schedule."""
        if not self.active or self.last is None:
            return None
        return max(0.0, self.last + self.every_s - now)

    def due(self, now: float, idle: bool) -> bool:
        """Whether to collect now: ``every_s`` has passed and the process is ``idle``, or
        twice ``every_s`` has passed."""
        if not self.active or self.last is None:
            return False
        waited = now - self.last
        return waited >= self.every_s and (idle or waited >= 2 * self.every_s)

    def collect(self, now: float) -> int:
        """A full collection now; returns the objects it found unreachable."""
        found = gc.collect()
        self.last = now
        self.collections += 1
        return found

    def release(self) -> None:
        """Give full collections back to CPython (the thresholds from before)."""
        if self._saved is not None:
            gc.set_threshold(*self._saved)
            self._saved = None


class GcPauses:
    """Every garbage collection's pause, by generation, on ``registry`` as ``name``."""

    def __init__(self, registry: CollectorRegistry, name: str, what: str) -> None:
        self.pauses = Histogram(
            name,
            f"garbage collection pauses of the {what}, by generation",
            ["generation"],
            registry=registry,
            buckets=PAUSE_BUCKETS,
        )
        self._started = 0.0

    def install(self) -> None:
        """Observe the collections from now on (``gc.callbacks``)."""
        if self._callback not in gc.callbacks:
            gc.callbacks.append(self._callback)

    def remove(self) -> None:
        if self._callback in gc.callbacks:
            gc.callbacks.remove(self._callback)

    def _callback(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        else:
            elapsed = time.perf_counter() - self._started
            self.pauses.labels(str(info["generation"])).observe(elapsed)
