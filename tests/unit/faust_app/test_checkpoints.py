"""SignalCheckpoints without a broker: when a checkpoint is taken, and a failure is survived."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from streams.faust_app.checkpoints import SignalCheckpoints
from streams.host.client import ThreadEngine
from streams.metrics import WorkerMetrics
from streams.settings import Settings
from tests.unit.host.engines import small_calls


class _Counting(ThreadEngine):
    """The real engine in a thread; counts checkpoint calls and can fail them."""

    def __init__(self, fail: bool = False) -> None:
        super().__init__(small_calls(CollectorRegistry()))
        self.taken = 0
        self.fail = fail

    async def _call(self, name: str, *args: Any) -> Any:
        if name == "checkpoint_signals":
            self.taken += 1
            if self.fail:
                raise RuntimeError("engine gone")
        return await super()._call(name, *args)


def _checkpoints(
    tmp_path: Path, engine: _Counting, writes: bool = True, interval: float = 0.001
) -> tuple[SignalCheckpoints, WorkerMetrics]:
    settings = Settings(state_dir=tmp_path, signals_checkpoint_s=interval)
    metrics = WorkerMetrics(CollectorRegistry())
    return SignalCheckpoints(settings, engine, metrics, writes=lambda: writes), metrics


def _failed(metrics: WorkerMetrics) -> float:
    return float(metrics.signal_checkpoints.labels("failed")._value.get())


def test_a_failed_checkpoint_is_counted_and_survived(tmp_path: Path) -> None:
    engine = _Counting(fail=True)
    ck, metrics = _checkpoints(tmp_path, engine)

    async def run() -> None:
        await asyncio.sleep(0.01)
        await ck.after_fetch({0: 5})
        await asyncio.sleep(0.01)
        await ck.after_fetch({0: 6})  # tried again an interval later

    try:
        asyncio.run(run())
    finally:
        engine.close()
    assert engine.taken == 2
    assert _failed(metrics) == 2


@pytest.mark.parametrize(
    ("writes", "interval", "taken"),
    [(False, 0.001, 0), (True, 0.0, 0), (True, 3600.0, 0)],
    ids=["not-the-writer", "disabled", "not-due"],
)
def test_no_checkpoint_unless_due_and_this_worker_writes(
    tmp_path: Path, writes: bool, interval: float, taken: int
) -> None:
    engine = _Counting(fail=True)
    ck, _ = _checkpoints(tmp_path, engine, writes=writes, interval=interval)

    async def run() -> None:
        await asyncio.sleep(0.01)
        await ck.after_fetch({0: 5})

    try:
        asyncio.run(run())
    finally:
        engine.close()
    assert engine.taken == taken
