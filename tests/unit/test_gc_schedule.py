"""streams.gc_schedule: full garbage collections on the process's schedule."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest
from prometheus_client import CollectorRegistry

from streams.gc_schedule import FullCollections, GcPauses


@pytest.fixture(autouse=True)
def _restore_gc() -> Iterator[None]:
    thresholds = gc.get_threshold()
    callbacks = list(gc.callbacks)
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)
        gc.callbacks[:] = callbacks
        gc.unfreeze()


def _full_pauses(registry: CollectorRegistry) -> float:
    return registry.get_sample_value("t_gc_pause_seconds_count", {"generation": "2"}) or 0.0


def _churn(rounds: int = 40, per_round: int = 20_000) -> list[list[list[float]]]:
    """Long-lived containers, as user states are: survivors of the young generations."""
    return [[[float(i)] for i in range(per_round)] for _ in range(rounds)]


def test_settle_freezes_and_takes_full_collections_over() -> None:
    before = gc.get_threshold()
    schedule = FullCollections(60.0)
    schedule.settle(100.0)
    assert schedule.active
    assert gc.get_freeze_count() > 0
    assert gc.get_threshold()[:2] == before[:2]  # the young generations as they were
    assert gc.get_threshold()[2] > 10**8
    schedule.release()
    assert gc.get_threshold() == before


def test_no_automatic_full_collection_while_taken_over_and_cpython_again_after() -> None:
    registry = CollectorRegistry()
    pauses = GcPauses(registry, "t_gc_pause_seconds", "test")
    pauses.install()
    schedule = FullCollections(60.0)
    schedule.settle(0.0)
    settled = _full_pauses(registry)
    assert settled == 1  # settle's own collection
    kept = _churn()
    assert _full_pauses(registry) == settled
    schedule.release()
    kept += _churn()
    assert _full_pauses(registry) > settled  # CPython's heuristic fires on the same churn
    assert len(kept) == 80


def test_due_when_idle_after_every_s_or_regardless_after_twice_that() -> None:
    schedule = FullCollections(10.0)
    assert not schedule.due(1e9, idle=True)  # not settled: CPython's schedule
    assert schedule.until_due(1e9) is None
    schedule.settle(100.0)
    assert schedule.until_due(104.0) == 6.0
    assert not schedule.due(109.9, idle=True)
    assert schedule.due(110.0, idle=True)
    assert not schedule.due(115.0, idle=False)
    assert schedule.due(120.0, idle=False)
    assert schedule.until_due(130.0) == 0.0
    schedule.collect(130.0)
    assert schedule.collections == 1
    assert not schedule.due(139.0, idle=True)
    assert schedule.due(140.0, idle=True)


def test_collect_reclaims_cycles() -> None:
    schedule = FullCollections(1.0)
    schedule.settle(0.0)

    class Node:
        other: object = None

    for _ in range(50):
        a, b = Node(), Node()
        a.other, b.other = b, a
    del a, b
    assert schedule.collect(5.0) >= 2


def test_zero_leaves_cpythons_schedule() -> None:
    before = gc.get_threshold()
    schedule = FullCollections(0.0)
    schedule.settle(0.0)
    assert not schedule.active
    assert gc.get_threshold() == before
    assert not schedule.due(1e9, idle=True)
    with pytest.raises(ValueError, match="every_s"):
        FullCollections(-1.0)


def test_pauses_are_observed_by_generation_until_removed() -> None:
    registry = CollectorRegistry()
    pauses = GcPauses(registry, "t_gc_pause_seconds", "test")
    pauses.install()
    pauses.install()  # once only
    gc.collect()
    gc.collect(0)
    assert _full_pauses(registry) == 1
    young = registry.get_sample_value("t_gc_pause_seconds_count", {"generation": "0"})
    assert (young or 0.0) >= 1
    pauses.remove()
    gc.collect()
    assert _full_pauses(registry) == 1
