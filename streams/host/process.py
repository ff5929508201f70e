"""The engine in a child process of its own, so faust's event loop and the engine's Python
each have an interpreter (and a core) instead of taking turns on one lock.

The child is *spawned* (a fresh interpreter: forking a process that runs aiokafka's and
librdkafka's threads is unsafe). It builds the engine with the picklable ``factory`` it is
given, then serves calls from a pipe in order: ``(name, args)`` in, ``("ok", result,
metric families | None)`` or ``("error", traceback text)`` out. Its encoder metrics and its
garbage-collection pauses live on its own registry; it sends their values along at most every
``metrics_every_s`` seconds and the worker exposes them through :class:`ForwardedMetrics`;
an idle worker asks for them (``metrics``, :meth:`ProcessEngine.refresh_metrics`), so what
the engine did last, or alone (a full collection while idle), reaches ``/metrics`` too.
After ``prepare`` it runs its full garbage collections itself, every ``gc_full_every_s``
seconds between calls (:mod:`streams.gc_schedule`; 0: CPython's own schedule).

Failure: when the child dies, or the pipe breaks, ``on_lost`` is called (the worker exits
without committing, so the batch in flight is redelivered). The child ignores SIGINT (a
Ctrl-C reaches the whole process group; the worker finishes its batch and then closes the
pipe) and exits when the pipe closes, also when the worker was killed.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import multiprocessing
import signal
import time
import traceback
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from multiprocessing.connection import Connection
from typing import Any, NoReturn

from prometheus_client import CollectorRegistry
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector
from threadpoolctl import threadpool_limits

from streams.gc_schedule import FullCollections, GcPauses
from streams.host.calls import EngineCalls
from streams.host.client import EngineClient
from streams.logs import configure_logging

__all__ = [
    "ENGINE_GC_PAUSES",
    "METRICS_EVERY_S",
    "EngineCallError",
    "EngineStartError",
    "ForwardedMetrics",
    "ProcessEngine",
]

log = logging.getLogger(__name__)
METRICS_EVERY_S = 1.0
ENGINE_GC_PAUSES = "interest_tracker_engine_gc_pause_seconds"
_CALLS = frozenset(
    {
        "process",
        "apply_items",
        "apply_signals",
        "prepare",
        "recommend",
        "checkpoint_signals",
        "restore_signals",
        "metrics",
    }
)

EngineFactory = Callable[[CollectorRegistry], EngineCalls]


class EngineStartError(RuntimeError):
    """The engine process could not build the engine (its traceback is the message)."""


class EngineCallError(RuntimeError):
    """A call raised in the engine process (its traceback is the message)."""


class ForwardedMetrics(Collector):
    """Serves the metric families another process last sent (the engine's encoder metrics)."""

    def __init__(self) -> None:
        self._families: list[Metric] = []

    def update(self, families: list[Metric]) -> None:
        self._families = families

    def collect(self) -> Iterable[Metric]:
        return list(self._families)


def _serve(
    conn: Connection,
    factory: EngineFactory,
    log_level: str,
    blas_threads: int,
    metrics_every_s: float,
    *,
    gc_full_every_s: float = 0.0,
) -> None:
    """The child's main: build, report ready, serve until the pipe closes."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    configure_logging(log_level)
    threadpool_limits(limits=blas_threads, user_api="blas")
    registry = CollectorRegistry()
    try:
        calls = factory(registry)
    except BaseException as exc:
        conn.send(("error", "".join(traceback.format_exception(exc))))
        return
    pauses = GcPauses(registry, ENGINE_GC_PAUSES, "engine process")
    pauses.install()
    gc.collect()
    gc.freeze()  # the model and the modules: out of the cyclic GC's way
    conn.send(("ready", list(registry.collect())))
    schedule = FullCollections(gc_full_every_s)
    try:
        _loop(conn, calls, registry, metrics_every_s, schedule)
    finally:
        schedule.release()
        pauses.remove()
        gc.unfreeze()  # a frozen heap at exit makes native extensions report leaks


def _loop(
    conn: Connection,
    calls: EngineCalls,
    registry: CollectorRegistry,
    metrics_every_s: float,
    schedule: FullCollections,
) -> None:
    """Serve calls in order. Once ``prepare`` (start-up done: the catalog is loaded) has
    run, ``schedule`` takes the full collections over: one when it is due and no call
    waits in the pipe, or between two calls once it is twice overdue
    (:mod:`streams.gc_schedule`)."""
    sent = time.monotonic()
    while True:
        wait = schedule.until_due(time.monotonic())
        if wait is not None and not conn.poll(wait):  # idle until it was due
            schedule.collect(time.monotonic())
            continue
        if schedule.due(time.monotonic(), idle=False):  # twice overdue: calls keep coming
            schedule.collect(time.monotonic())
        try:
            name, args = conn.recv()
        except EOFError:  # the worker closed the pipe or is gone
            return
        try:
            if name not in _CALLS:
                raise ValueError(f"unknown engine call {name!r}")
            # "metrics": the worker asks for the values alone (none came with a call lately)
            result = None if name == "metrics" else getattr(calls, name)(*args)
        except Exception as exc:
            conn.send(("error", "".join(traceback.format_exception(exc))))
            continue
        if name == "prepare":
            schedule.settle(time.monotonic())
        families: list[Metric] | None = None
        if name == "metrics" or time.monotonic() - sent >= metrics_every_s:
            families, sent = list(registry.collect()), time.monotonic()
        try:
            conn.send(("ok", result, families))
        except (BrokenPipeError, ConnectionResetError):
            return


class ProcessEngine(EngineClient):
    """Engine calls served by a spawned child process, in order, over one pipe."""

    def __init__(
        self,
        factory: EngineFactory,
        *,
        on_lost: Callable[[str], NoReturn],
        log_level: str = "INFO",
        blas_threads: int = 1,
        metrics_every_s: float = METRICS_EVERY_S,
        gc_full_every_s: float = 0.0,
    ) -> None:
        super().__init__()
        self.metrics = ForwardedMetrics()
        self._metrics_at = time.monotonic()  # when metric values last came
        self._on_lost = on_lost
        ctx = multiprocessing.get_context("spawn")
        self._conn, child = ctx.Pipe(duplex=True)
        self._proc = ctx.Process(
            target=_serve,
            args=(child, factory, log_level, blas_threads, metrics_every_s),
            kwargs={"gc_full_every_s": gc_full_every_s},
            name="interest-tracker-engine",
            daemon=True,
        )
        self._proc.start()
        child.close()  # the child's end lives in the child only: its exit means EOF here
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="engine-pipe")

    @property
    def pid(self) -> int | None:
        return self._proc.pid

    def wait_ready(self, timeout: float | None = None) -> None:
        """Block until the engine is built. Errors: ``EngineStartError``."""
        if not self._conn.poll(timeout):
            self.close()
            raise EngineStartError(f"the engine process was not ready after {timeout}s")
        try:
            reply = self._conn.recv()
        except EOFError:
            self._proc.join(5)
            raise EngineStartError(
                f"the engine process exited while starting (code {self._proc.exitcode})"
            ) from None
        if reply[0] != "ready":
            self.close()
            raise EngineStartError(reply[1])
        self.metrics.update(reply[1])
        log.info("engine process %d ready", self._proc.pid)

    def alive(self) -> bool:
        return self._proc.is_alive()

    def _roundtrip(self, name: str, args: tuple[Any, ...]) -> Any:
        try:
            self._conn.send((name, args))
            reply = self._conn.recv()
        except (EOFError, OSError) as exc:
            self._proc.join(1)
            self._on_lost(f"the engine process is gone ({exc!r}, exit code {self._proc.exitcode})")
        if reply[0] == "error":
            raise EngineCallError(f"engine call {name} failed in the engine process:\n{reply[1]}")
        _, result, families = reply
        if families is not None:
            self.metrics.update(families)
            self._metrics_at = time.monotonic()
        return result

    async def refresh_metrics(self, older_than_s: float) -> None:
        if time.monotonic() - self._metrics_at >= older_than_s:
            await self._call("metrics")

    async def _call(self, name: str, *args: Any) -> Any:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._roundtrip, name, args)

    def close(self, timeout: float = 10.0) -> None:
        """Close the pipe (the child exits after its call in flight) and reap the child."""
        self._executor.shutdown(wait=True)
        self._conn.close()
        self._proc.join(timeout)
        if self._proc.is_alive():
            log.warning("engine process %s did not exit; terminating it", self._proc.pid)
            self._proc.terminate()
            self._proc.join(5)
        if self._proc.is_alive():
            self._proc.kill()
            self._proc.join()
