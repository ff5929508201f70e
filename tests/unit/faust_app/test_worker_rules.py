"""The worker's small rules: consumer lag from the next offset to process, for the assigned
event partitions only (from the group's committed offset while faust has not sought a
partition yet); a tombstone on items is a deletion."""

from __future__ import annotations

import asyncio
import json
from collections import defaultdict
from collections.abc import Collection
from typing import Any

from faust.types import TP
from prometheus_client import CollectorRegistry

from streams.faust_app.lag import CommittedLookup, lag_metrics
from streams.metrics import WorkerMetrics

EVENTS = {"events", "events.click"}


class _Consumer:
    """What ``lag_metrics`` reads of faust's consumer (its aiokafka consumer's end offsets,
    the assignment, the committed offsets it seeked to)."""

    def __init__(self, high: dict[TP, int], committed: dict[TP, int]) -> None:
        self.high = high
        self._committed_offset: defaultdict[TP, int | None] = defaultdict(lambda: None)
        self._committed_offset.update(committed)

    def assignment(self) -> set[TP]:
        return set(self.high)

    def highwater(self, tp: TP) -> int:
        return self.high[tp]


class _App:
    def __init__(self, consumer: _Consumer) -> None:
        self.consumer = consumer
        self.tables = None
        self.consumer_generation_id = 1


def _lag(registry: CollectorRegistry) -> dict[tuple[str, str], float]:
    out = {}
    for metric in registry.collect():
        for s in metric.samples:
            if s.name == "interest_tracker_consumer_lag":
                out[s.labels["topic"], s.labels["partition"]] = s.value
    return out


def test_lag_counts_from_the_commit_or_the_last_batch_whichever_is_further() -> None:
    registry = CollectorRegistry()
    metrics = WorkerMetrics(registry)
    quiet, busy, fresh = TP("events", 0), TP("events", 1), TP("events.click", 0)
    changelog = TP("app-users-changelog", 0)
    consumer = _Consumer(
        {quiet: 500, busy: 900, fresh: 40, changelog: 7000}, {quiet: 500, busy: 100}
    )
    positions = {("events", 1): 850}  # this worker completed a batch of it since its start
    app: Any = _App(consumer)
    lag_metrics(app, metrics, positions, EVENTS)
    assert _lag(registry) == {
        ("events", "0"): 0.0,  # nothing new since the commit it was assigned at
        ("events", "1"): 50.0,
        ("events.click", "0"): 40.0,  # never committed: all of it
    }


def test_a_partition_no_longer_assigned_leaves_the_metric_and_the_positions() -> None:
    registry = CollectorRegistry()
    metrics = WorkerMetrics(registry)
    kept, moved = TP("events", 0), TP("events", 1)
    consumer = _Consumer({kept: 10, moved: 10}, {})
    positions = {("events", 0): 4, ("events", 1): 6}
    app: Any = _App(consumer)
    lag_metrics(app, metrics, positions, EVENTS)
    assert _lag(registry) == {("events", "0"): 6.0, ("events", "1"): 4.0}
    del consumer.high[moved]  # revoked: another worker has it now
    lag_metrics(app, metrics, positions, EVENTS)
    assert _lag(registry) == {("events", "0"): 6.0}
    assert positions == {("events", 0): 4}


def test_a_partition_faust_has_not_sought_yet_counts_from_the_groups_commit() -> None:
    """While a newly assigned partition's tables recover, faust knows neither its committed
    offset nor a processed position: the group coordinator is asked (once per partition and
    generation, in the background), and until it answers the partition shows its whole log."""
    registry = CollectorRegistry()
    metrics = WorkerMetrics(registry)
    recovering, never, sought = TP("events", 0), TP("events", 1), TP("events", 2)
    consumer = _Consumer({recovering: 9000, never: 30, sought: 500}, {sought: 480})
    app: Any = _App(consumer)
    asked: list[set[TP]] = []
    group = {recovering: 8990, never: None}
    failing = [True]

    def fetch(tps: Collection[TP]) -> dict[TP, int | None]:
        asked.append(set(tps))
        if failing[0]:
            raise ConnectionError("coordinator moving")
        return {tp: group[tp] for tp in tps}

    now = [0.0]

    async def scenario() -> None:
        lookup = CommittedLookup(fetch, retry_s=5.0, clock=lambda: now[0])
        lag_metrics(app, metrics, {}, EVENTS, lookup)
        await lookup.settled()  # the failed lookup: whole logs, asked again after 5 s
        assert _lag(registry)[("events", "0")] == 9000.0
        now[0] = 4.0
        lag_metrics(app, metrics, {}, EVENTS, lookup)
        await lookup.settled()
        assert len(asked) == 1  # backing off
        now[0] = 5.0
        lag_metrics(app, metrics, {}, EVENTS, lookup)
        await lookup.settled()
        assert len(asked) == 2  # failed again: next in 10 s
        now[0] = 15.0
        failing[0] = False
        lag_metrics(app, metrics, {}, EVENTS, lookup)
        await lookup.settled()
        lag_metrics(app, metrics, {}, EVENTS, lookup)
        assert _lag(registry) == {
            ("events", "0"): 10.0,  # the events since the group's last commit
            ("events", "1"): 30.0,  # never committed: all of it
            ("events", "2"): 20.0,  # faust has sought it: its own committed offset
        }
        lag_metrics(app, metrics, {}, EVENTS, lookup)
        await lookup.settled()
        assert asked == [{recovering, never}] * 3  # known, not asked again
        app.consumer_generation_id = 2  # a rebalance: another worker may have committed
        group[recovering] = 8995
        lag_metrics(app, metrics, {}, EVENTS, lookup)
        await lookup.settled()
        lag_metrics(app, metrics, {}, EVENTS, lookup)
        assert _lag(registry)[("events", "0")] == 5.0
        assert len(asked) == 4

    asyncio.run(scenario())


def test_a_tombstone_on_items_deletes_its_keys_item() -> None:
    """(Here beside the worker's other small rules.) Not a malformed_json dead letter."""
    from streams.faust_app.worker import tombstone_deletion

    assert json.loads(tombstone_deletion(b"i7") or b"") == {"item_id": "i7", "deleted": True}
    assert tombstone_deletion(None) is None
    assert tombstone_deletion(b"") is None
    assert tombstone_deletion(b"\xff") is None


def test_asking_a_hung_engine_for_its_metrics_never_holds_the_timer() -> None:
    """The request runs in the background, one at a time, and only when the worker is idle."""
    from types import SimpleNamespace

    from streams.faust_app.worker import _Housekeeping

    asked = []

    class _Hung:
        async def refresh_metrics(self, older_than_s: float) -> None:
            asked.append(older_than_s)
            await asyncio.Event().wait()  # an engine call queued ahead never returns

    async def scenario() -> None:
        ready = asyncio.Event()
        ready.set()
        rt: Any = SimpleNamespace(busy=True, ready=ready, engine=_Hung())
        keeper = _Housekeeping.__new__(_Housekeeping)
        keeper.rt, keeper.asking = rt, None
        keeper.ask_engine_metrics()
        assert keeper.asking is None  # busy: the calls bring them
        rt.busy = False
        for _ in range(3):
            keeper.ask_engine_metrics()  # returns at once
            await asyncio.sleep(0)
        assert len(asked) == 1
        task: Any = keeper.asking  # (mypy kept it None from the assert above)
        assert not task.done()
        task.cancel()

    asyncio.run(scenario())
