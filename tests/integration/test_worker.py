"""The faust worker on the real broker: identity with replay, dead letters, restarts, scaling."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import (  # type: ignore[attr-defined]  # re-exported, not listed
    AdminClient,
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    ResourceType,
)

from state.codec import decode_user
from state.signals import SignalDeltas
from streams.commands.produce import produce_files
from streams.core.config import load_params
from streams.core.engine import BatchResult, Engine
from streams.datasets.params import GeneratorParams
from streams.datasets.synthetic import generate_dataset
from streams.kafka.dlq import decode_dead_letter
from streams.kafka.routing import PRODUCER_DEFAULTS, route_event
from streams.settings import KafkaSettings
from tests.integration.worker_proc import (
    ROOT,
    WorkerProcess,
    create_topics,
    last_by_key,
    read_topic,
    wait_until,
)
from tests.signal_totals import applied_once, assert_same_totals, signal_totals

pytestmark = [pytest.mark.kafka, pytest.mark.slow]

EVENT_TOPICS = ("events.click", "events.view", "events.purchase", "events")


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("data")
    generate_dataset(GeneratorParams(users=60, items=300, drift_fraction=0.3, seed=11), out)
    return out


@pytest.fixture(scope="module", autouse=True)
def shared_embedding_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Workers and replay share one embedding cache: items are encoded once per module."""
    old = os.environ.get("IT_ENCODER_CACHE_DIR")
    os.environ["IT_ENCODER_CACHE_DIR"] = str(tmp_path_factory.mktemp("emb"))
    yield
    if old is None:
        del os.environ["IT_ENCODER_CACHE_DIR"]
    else:
        os.environ["IT_ENCODER_CACHE_DIR"] = old


def _lines(path: Path) -> int:
    return sum(1 for line in path.read_bytes().splitlines() if line.strip())


def _replay(dataset: Path, events: Path, tmp: Path) -> dict[str, Any]:
    out, alerts, rej = tmp / "recs.jsonl", tmp / "alerts.jsonl", tmp / "rejections.jsonl"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "streams",
            "replay",
            "--items",
            str(dataset / "items.jsonl"),
            "--events",
            str(events),
            "--out",
            str(out),
            "--alerts",
            str(alerts),
            "--rejections",
            str(rej),
            "--emit",
            "final",
        ],
        cwd=ROOT,
        check=True,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )
    recs = {json.loads(x)["user_id"]: json.loads(x) for x in out.read_text().splitlines()}
    return {
        "recs": recs,
        "alerts": [json.loads(x) for x in alerts.read_text().splitlines()],
        "rejections": [json.loads(x) for x in rej.read_text().splitlines()],
    }


def _committed_to_end(settings: KafkaSettings, group: str) -> bool:
    consumer = Consumer(
        {**settings.client_config(), "group.id": group, "enable.auto.commit": False}
    )
    try:
        tps = []
        for t in EVENT_TOPICS:
            full = settings.topic(t)
            meta = consumer.list_topics(full, timeout=10).topics[full]
            tps += [TopicPartition(full, p) for p in meta.partitions]
        committed = consumer.committed(tps, timeout=10)
        for tp in committed:
            _, high = consumer.get_watermark_offsets(tp, timeout=10)
            if high > 0 and tp.offset < high:
                return False
        return True
    finally:
        consumer.close()


def _settled(workers: list[WorkerProcess], settings: KafkaSettings, group: str) -> bool:
    if not _committed_to_end(settings, group):
        return False
    healths = [w.health() or {} for w in workers]
    return all(h.get("pending_refresh", 1) == 0 for h in healths)


def _assert_same_recommendations(got: dict[str, Any], want: dict[str, Any]) -> None:
    assert got.keys() == want.keys()
    for user, rec in want.items():
        g = got[user]
        assert g["ts"] == rec["ts"], user
        gi = [(i["item_id"], i["score"]) for i in g["items"]]
        wi = [(i["item_id"], i["score"]) for i in rec["items"]]
        assert len(gi) == len(wi), user
        for (ga, gs), (wa, ws) in zip(gi, wi, strict=True):
            assert gs == pytest.approx(ws, abs=1e-4), (user, gi, wi)
            if ga != wa:  # only a near-tie may swap places
                assert abs(gs - ws) < 1e-4, (user, gi, wi)


def _alert_keys(alerts: list[dict[str, Any]]) -> Counter[tuple[Any, ...]]:
    return Counter(
        (a["user_id"], a["ts"], json.dumps(a["from"]), json.dumps(a["to"])) for a in alerts
    )


def test_worker_gives_the_same_results_as_replay(
    kafka_topics: KafkaSettings, dataset: Path, tmp_path: Path
) -> None:
    produce_files(kafka_topics, dataset / "items.jsonl", None, progress=False)
    app_id = f"it-{uuid.uuid4().hex[:6]}"
    # full garbage collections every second (on the processes' schedule): the same results
    worker = WorkerProcess(kafka_topics, tmp_path / "w1", app_id, IT_GC_FULL_EVERY_S="1").start()
    try:
        worker.wait_ready()
        produce_files(
            kafka_topics, None, dataset / "events.jsonl", progress=False, single_topic=True
        )
        wait_until(lambda: _settled([worker], kafka_topics, app_id), 240, "worker settled")
        wait_until(lambda: min(c - 2 for c in _full_collections(worker)) >= 1, 30, "scheduled ones")
        got_recs = last_by_key(read_topic(kafka_topics, "recommendations"))
        got_alerts = [json.loads(v) for _, v in read_topic(kafka_topics, "interest-drift")]
        m = worker.metrics()
    finally:
        assert worker.stop() == 0, worker.log_tail()
    want = _replay(dataset, dataset / "events.jsonl", tmp_path)
    _assert_same_recommendations(got_recs, want["recs"])
    assert _alert_keys(got_alerts) == _alert_keys(want["alerts"])
    assert got_alerts, "the data set plants drift: alerts are expected"
    lines = _lines(dataset / "events.jsonl")
    rejected = sum(
        v for k, v in m.items() if k.startswith("interest_tracker_events_rejected_total")
    )
    assert (
        m["interest_tracker_events_applied_total"]
        + m["interest_tracker_events_duplicate_total"]
        + rejected
        == lines
    )
    # forwarded by the engine process
    for name in ("hits_total", "misses_total", "states", "bytes"):
        assert f"interest_tracker_state_cache_{name}" in m


def test_every_client_of_a_worker_reaches_a_sasl_listener(
    kafka_sasl_settings: KafkaSettings, dataset: Path, tmp_path: Path
) -> None:
    """Over SASL_PLAINTEXT with SCRAM-SHA-256 (the listener serves no unauthenticated
    client): the topics created and the files produced (librdkafka), the catalog, signal and
    checkpoint readers (aiokafka), faust's group, table and changelog, and the outputs and
    checkpoints published; the results are replay's, and a restart loads a checkpoint."""
    settings = create_topics(kafka_sasl_settings, partitions=2)
    produce_files(settings, dataset / "items.jsonl", None, progress=False)
    app_id = f"it-{uuid.uuid4().hex[:6]}"
    worker = WorkerProcess(settings, tmp_path / "w", app_id, IT_SIGNALS_CHECKPOINT_S="1")
    try:
        worker.start().wait_ready()
        produce_files(settings, None, dataset / "events.jsonl", progress=False, single_topic=True)
        wait_until(lambda: _settled([worker], settings, app_id), 240, "worker settled")
        written = 'interest_tracker_signal_checkpoints_total{outcome="written"}'
        wait_until(lambda: worker.metrics().get(written, 0) >= 1, 60, "a checkpoint written")
        got_recs = last_by_key(read_topic(settings, "recommendations"))
    finally:
        assert worker.stop() == 0, worker.log_tail()
    _assert_same_recommendations(
        got_recs, _replay(dataset, dataset / "events.jsonl", tmp_path)["recs"]
    )
    again = WorkerProcess(settings, tmp_path / "w", app_id)
    try:
        health = again.start().wait_ready().health() or {}
        assert health.get("signals_checkpoint_covered"), health
    finally:
        assert again.stop() == 0, again.log_tail()


def _full_collections(worker: WorkerProcess) -> tuple[float, float]:
    """Full garbage collections of the worker and the engine process so far: one before
    start-up freezes, one settling once the catalog is loaded, then the scheduled ones (the
    engine's are reported with its next reply)."""
    m = worker.metrics()
    key = 'gc_pause_seconds_count{generation="2"}'
    return m.get(f"interest_tracker_{key}", 0.0), m.get(f"interest_tracker_engine_{key}", 0.0)


MALFORMED = [
    b"{not json",
    b"[1, 2, 3]",
    b'{"event_id": "m1"}',
    b'{"event_id": "m2", "user_id": "u000001", "item_id": "i000001", "type": "teleport", '
    b'"ts": 1704067200000}',
    b'{"event_id": "m3", "user_id": "u000001", "item_id": "i000001", "type": "rating", '
    b'"ts": 1704067200000, "value": NaN}',
    b'{"event_id": "m4", "user_id": "u000001", "item_id": "i000001", "type": "rating", '
    b'"ts": 1704067200000, "value": 1e400}',
    b'{"event_id": "m5", "user_id": "' + b"u" * 5000 + b'", "item_id": "i1", "type": "click", '
    b'"ts": 1704067200000}',
    b'{"event_id": "m6", "user_id": "u000001", "item_id": "i000001", "type": "click", '
    b'"ts": 99999999999999}',
    b'{"event_id": "m7", "user_id": "u000001", "item_id": "i000001", "type": "click", '
    b'"ts": "yesterday"}',
    b'{"event_id": "m8", "user_id": "u000001", "item_id": "i000001", "type": "click", '
    b'"ts": 1704067200000, "text": "' + b"x" * 100_000 + b'"}',
    b"\xff\xfe\x00garbage",
    # a user id that is not text (a lone surrogate, escaped or encoded): no routing key
    b'{"event_id": "m9", "user_id": "u\\ud800", "item_id": "i000001", "type": "click", '
    b'"ts": 1704067200000}',
    b'{"event_id": "m10", "user_id": "u\xed\xa0\x80", "item_id": "i000001", "type": "click", '
    b'"ts": 1704067200000}',
]


def _produce_some_unkeyed(settings: KafkaSettings, lines: list[bytes]) -> None:
    """Every third line without a key, every fifth keyed by something else than the user:
    the worker must repartition them by user before applying them."""
    producer = Producer({**settings.client_config(), **PRODUCER_DEFAULTS})
    for i, line in enumerate(lines):
        route = route_event(line)
        key = route.key
        if i % 3 == 0:
            key = None
        elif i % 5 == 0:
            key = f"not-the-user-{i}".encode()
        producer.produce(settings.topic("events"), key=key, value=line)
    assert producer.flush(30) == 0


BAD_ITEMS = {
    b"bad-item-1": b'{"item_id":"bad-item-1","title":"\\ud800","category":"x"}',
    b"bad-item-2": b'{"item_id":"bad-item-2",',
}


@pytest.mark.parametrize("engine_process", ["true", "false"], ids=["engine-process", "thread"])
def test_bad_input_goes_to_the_dead_letter_topic(
    kafka_topics: KafkaSettings, dataset: Path, tmp_path: Path, engine_process: str
) -> None:
    """Both engine hosts (its own process, the default; a thread of the worker)."""
    good = [x for x in (dataset / "events.jsonl").read_bytes().splitlines() if x.strip()][:400]
    mixed = tmp_path / "mixed.jsonl"
    body = list(good)
    for i, bad in enumerate(MALFORMED):
        body.insert(i * 30, bad)
    mixed.write_bytes(b"\n".join(body) + b"\n")
    produce_files(kafka_topics, dataset / "items.jsonl", None, progress=False)
    items = Producer(kafka_topics.client_config())
    for key, value in BAD_ITEMS.items():
        items.produce(kafka_topics.topic("items"), key=key, value=value)
    items.produce(kafka_topics.topic("items"), key=b"bad-item-2", value=None)  # a deletion
    assert items.flush(30) == 0
    no_id = tmp_path / "no-id.jsonl"  # produce keys it by content: the topic is compacted
    no_id.write_bytes(b'{"title":"no id","category":"x"}\n')
    produce_files(kafka_topics, no_id, None, progress=False)
    app_id = f"it-{uuid.uuid4().hex[:6]}"
    worker = WorkerProcess(
        kafka_topics, tmp_path / "w1", app_id, IT_ENGINE_PROCESS=engine_process
    ).start()
    try:
        worker.wait_ready()
        assert (worker.health() or {}).get("engine_alive") is True
        _produce_some_unkeyed(kafka_topics, body)
        wait_until(lambda: _settled([worker], kafka_topics, app_id), 180, "worker settled")
        dead = read_topic(kafka_topics, "events.dlq")
        m = worker.metrics()
    finally:
        assert worker.stop() == 0, worker.log_tail()
    item_letters = {k: decode_dead_letter(v) for k, v in dead if k in BAD_ITEMS}
    for key, value in BAD_ITEMS.items():  # under their own keys, from the items topic
        dl = item_letters[key]
        assert (dl.key, dl.value, dl.topic) == (key, value, kafka_topics.topic("items"))
        assert dl.reason == "malformed_json"
        assert dl.offset >= 0
    (unkeyed,) = [decode_dead_letter(v) for k, v in dead if k and k.startswith(b"no-item-id:")]
    assert (unkeyed.reason, unkeyed.value) == ("missing_field", no_id.read_bytes().strip())
    letters = [
        decode_dead_letter(v)
        for k, v in dead
        if k not in BAD_ITEMS and not (k and k.startswith(b"no-item-id:"))
    ]
    by_value = {dl.value: dl for dl in letters}
    for bad in MALFORMED:
        assert bad in by_value, bad[:60]
        dl = by_value[bad]
        assert dl.reason
        assert dl.topic == kafka_topics.topic("events")
        assert dl.offset >= 0
        assert dl.reason != "processing_error"
    want = _replay(dataset, mixed, tmp_path)
    assert Counter(dl.reason for dl in letters) == Counter(r["reason"] for r in want["rejections"])
    applied = m["interest_tracker_events_applied_total"]
    dups = m["interest_tracker_events_duplicate_total"]
    assert applied + dups + len(letters) == len(body)  # nothing else lost
    received = sum(v for k, v in m.items() if k.startswith("interest_tracker_events_total"))
    assert received == len(body)  # every event counted in once, the unreadable ones too
    assert m['interest_tracker_items_rejected_total{reason="malformed_json"}'] == len(BAD_ITEMS)
    assert m['interest_tracker_items_rejected_total{reason="missing_field"}'] == 1


def _states_from_changelog(settings: KafkaSettings, app_id: str) -> dict[str, int]:
    topic = f"{app_id}-users-changelog"
    raw = KafkaSettings(bootstrap=settings.bootstrap, topic_prefix="")
    states = {}
    for key, value in read_topic(raw, topic, idle_s=3):
        if key is not None and value:
            states[key.decode()] = decode_user(value).n_events
    return states


def _published_signals(settings: KafkaSettings) -> list[SignalDeltas]:
    """The ``signals`` topic as every worker applies it (each batch once and whole)."""
    return applied_once(value for _, value in read_topic(settings, "signals"))


def _assert_same_signals(got: list[SignalDeltas], want: list[SignalDeltas]) -> None:
    """The same increments, each counted once (compared at the newest event's time)."""
    at = max(d.t_ref for d in want if len(d))
    params = load_params(None)
    assert_same_totals(signal_totals(got, at, params), signal_totals(want, at, params), rel=1e-6)


class _Recording(Engine):
    """The engine, keeping every batch's signal deltas."""

    deltas: list[SignalDeltas]

    def process(self, *args: Any, **kwargs: Any) -> BatchResult:
        res = super().process(*args, **kwargs)
        self.deltas.append(res.signal_deltas)
        return res


def _replay_counts(dataset: Path, events: Path) -> tuple[dict[str, int], list[SignalDeltas]]:
    """Replay's per-user event counts and its batches' signal increments."""
    from encoders.factory import build_encoder
    from encoders.settings import EncoderSettings
    from streams.commands.replay import run_replay
    from streams.datasets.files import read_messages

    engine = _Recording(load_params(None), build_encoder(EncoderSettings()))
    engine.deltas = []
    with open(os.devnull, "wb") as sink:
        run_replay(
            engine,
            read_messages(dataset / "items.jsonl"),
            read_messages(events),
            sink,
        )
    counts = {}
    for u in engine.users.user_ids():
        state = engine.users.get(u)
        assert state is not None
        counts[u] = state.n_events
    return counts, engine.deltas


def test_restart_after_sigterm_and_sigkill_loses_nothing_and_applies_nothing_twice(
    kafka_topics: KafkaSettings, dataset: Path, tmp_path: Path
) -> None:
    produce_files(kafka_topics, dataset / "items.jsonl", None, progress=False)
    app_id = f"it-{uuid.uuid4().hex[:6]}"
    events = dataset / "events.jsonl"
    total = _lines(events)
    producer = threading.Thread(
        target=produce_files,
        args=(kafka_topics, None, events),
        kwargs={"progress": False, "single_topic": True, "rate": total / 20},
    )
    w = WorkerProcess(kafka_topics, tmp_path / "w", app_id).start().wait_ready()
    producer.start()
    try:
        wait_until(lambda: (w.health() or {}).get("processed", 0) > total // 5, 120, "progress")
        assert w.stop(signal.SIGTERM) == 0, w.log_tail()
        w.start().wait_ready()
        wait_until(lambda: (w.health() or {}).get("processed", 0) > total // 5, 120, "progress")
        w.stop(signal.SIGKILL)
        producer.join()
        w.start().wait_ready()
        wait_until(lambda: _committed_to_end(kafka_topics, app_id), 240, "all committed")
        assert w.stop(signal.SIGTERM) == 0, w.log_tail()
        w.start().wait_ready()  # nothing new since the commits: no partition lags
        event_partitions = {(kafka_topics.topic(t), str(p)) for t in EVENT_TOPICS for p in range(4)}
        wait_until(lambda: set(_lags(w)) == event_partitions, 30, f"lag of each\n{_lags(w)}")
        assert set(_lags(w).values()) == {0.0}, _lags(w)
    finally:
        producer.join()
        w.stop()
    got = _states_from_changelog(kafka_topics, app_id)
    want, want_signals = _replay_counts(dataset, events)
    assert got == want
    # the global signals too: no batch's increments counted twice, none lost
    _assert_same_signals(_published_signals(kafka_topics), want_signals)


def _lags(w: WorkerProcess) -> dict[tuple[str, str], float]:
    """``interest_tracker_consumer_lag`` by (topic, partition)."""
    out = {}
    for name, value in w.metrics().items():
        if name.startswith("interest_tracker_consumer_lag{"):
            labels = dict(re.findall(r'(\w+)="([^"]*)"', name))
            out[labels["topic"], labels["partition"]] = value
    return out


def _engine_pid(worker: WorkerProcess) -> int | None:
    """The worker's engine process (its multiprocessing child that is not the tracker)."""
    assert worker.proc is not None
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            ppid = int(stat.read_text().rsplit(")", 1)[1].split()[1])
            cmd = (stat.parent / "cmdline").read_bytes()
        except (OSError, IndexError, ValueError):
            continue
        if ppid == worker.proc.pid and b"spawn_main" in cmd and b"resource_tracker" not in cmd:
            found.append(int(stat.parent.name))
    assert len(found) <= 1, found
    return found[0] if found else None


def _group_members(settings: KafkaSettings, group: str) -> int:
    admin = AdminClient(settings.client_config())
    groups = admin.list_consumer_groups().result(timeout=10).valid
    if group not in {g.group_id for g in groups}:  # never joined: the broker does not know it
        return 0
    return len(admin.describe_consumer_groups([group])[group].result(timeout=10).members)


POLL_S = 6.0  # the max poll interval of the workers that test it


def _buffered_worker(
    settings: KafkaSettings, state_dir: Path, app_id: str, **env: str
) -> WorkerProcess:
    """A worker with a ``POLL_S`` max poll interval and faust's smallest stream buffer."""
    return WorkerProcess(
        settings,
        state_dir,
        app_id,
        IT_CONSUMER_MAX_POLL_INTERVAL_S=str(POLL_S),
        IT_BATCH_MAX_EVENTS="100",  # faust's stream buffer: max(4096, 4 x this)
        **env,
    )


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")
def test_a_worker_joins_its_group_only_once_loaded_however_long_that_takes(
    kafka_topics: KafkaSettings, tmp_path: Path
) -> None:
    """A worker joins the consumer group once its catalog and signals are loaded: a slow
    start-up (here the engine is stopped for three max poll intervals meanwhile, with more
    events waiting than faust's stream buffer holds) holds no partition, and then every event
    is processed. Before, faust joined first and the catalog was loaded in a task: the
    partitions waited for the load, and once the buffer was full the consumer stopped
    polling, left the group after the max poll interval and, with aiokafka 0.14.0 and faust
    0.15.3, never joined again (the worker then sat "ok" and idle for good)."""
    data = tmp_path / "data"
    generate_dataset(GeneratorParams(users=150, items=1000, seed=5), data)
    produce_files(kafka_topics, data / "items.jsonl", data / "events.jsonl", progress=False)
    total = _lines(data / "events.jsonl")
    assert total > 4096 + 2000  # more than faust's stream buffer holds, and a fetch more
    app_id = f"it-{uuid.uuid4().hex[:6]}"
    w = _buffered_worker(
        kafka_topics,
        tmp_path / "w",
        app_id,
        IT_ENCODER_CACHE_DIR=str(tmp_path / "emb"),  # cold: the catalog takes a while to load
    ).start()
    try:
        # stop the engine once the worker serves its health endpoint and before the catalog
        # is loaded: the worker is then loading for as long as the test likes
        wait_until(lambda: w.health() is not None, 180, "the health endpoint", step=0.02)
        pid = _engine_pid(w)
        assert pid is not None
        os.kill(pid, signal.SIGSTOP)
        try:
            health = w.health() or {}
            assert not health.get("items_caught_up"), "the catalog loaded before the stop"
            assert (health.get("status"), health.get("consuming")) == ("starting", False)
            deadline = time.monotonic() + 3 * POLL_S
            while time.monotonic() < deadline:
                assert _group_members(kafka_topics, app_id) == 0
                time.sleep(1.0)
        finally:
            os.kill(pid, signal.SIGCONT)
        w.wait_ready(180)
        assert w.health()["consuming"] is True  # type: ignore[index]
        wait_until(lambda: (w.health() or {}).get("processed", 0) >= total, 120, "every event")
        assert w.health()["processed"] == total  # type: ignore[index]
        assert _group_members(kafka_topics, app_id) == 1
    finally:
        rc = w.stop()
    assert rc == 0, w.log_tail()


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")
def test_a_worker_stalled_past_the_max_poll_interval_rejoins_and_catches_up(
    kafka_topics: KafkaSettings, tmp_path: Path
) -> None:
    """A worker whose batch stalls (here its engine is stopped) for longer than the max poll
    interval, with more events waiting than faust's stream buffer holds, leaves the group
    (aiokafka: the consumer stopped polling), says so in its health endpoint, and once the
    engine runs again joins again and processes every event. faust 0.15.3 polls only after a
    new assignment and aiokafka 0.14.0 rejoins only after a poll (aiokafka #1187): the worker
    used to sit out of the group, idle, for good.

    The events go to the per-type topics (16 partitions: one fetch overfills the buffer and
    its delivery waits; with fewer, faust may take the full partitions out of the fetch and
    keep polling the others, and the worker stays in the group, stalled). They span 3 days,
    less than the allowed lateness: read in another order than the file's, none is too
    late, and the per-user counts equal replay's."""
    data = tmp_path / "data"
    generate_dataset(GeneratorParams(users=60, items=300, span_days=3.0, seed=13), data)
    events = data / "events.jsonl"
    produce_files(kafka_topics, data / "items.jsonl", None, progress=False)
    app_id = f"it-{uuid.uuid4().hex[:6]}"
    w = _buffered_worker(kafka_topics, tmp_path / "w", app_id).start()
    try:
        w.wait_ready(180)
        generation = w.health()["generation"]  # type: ignore[index]
        pid = _engine_pid(w)
        assert pid is not None
        rounds = -(-(4096 + 2000) // _lines(events))  # more than the buffer holds, and a fetch
        os.kill(pid, signal.SIGSTOP)
        try:
            for _ in range(rounds):  # the same events again: counted as processed, applied once
                produce_files(kafka_topics, None, events, progress=False)
            wait_until(lambda: (w.health() or {}).get("status") == "stalled", 3 * POLL_S, "stalled")
            assert w.metrics()["interest_tracker_stalled_seconds"] > POLL_S - 1.5  # set each 1 s
            # the consumer stopped polling: aiokafka left the group (faust's revocation then
            # waits for the batch in hand: the worker stays out until the stall ends)
            wait_until(lambda: _group_members(kafka_topics, app_id) == 0, 6 * POLL_S, "a leave")
        finally:
            os.kill(pid, signal.SIGCONT)
        wait_until(lambda: _group_members(kafka_topics, app_id) == 1, 60, "a rejoin")
        wait_until(lambda: _committed_to_end(kafka_topics, app_id), 120, "all committed")
        wait_until(lambda: (w.health() or {}).get("status") == "ok", 60, "ok again")
        assert w.health()["generation"] > generation  # type: ignore[index]
        wait_until(lambda: w.metrics()["interest_tracker_stalled_seconds"] == 0, 5, "0 stalled")
        # events handed over before the leave are fetched again: counted twice, applied once
        assert w.health()["processed"] >= rounds * _lines(events)  # type: ignore[index]
    finally:
        rc = w.stop()
    assert rc == 0, w.log_tail()
    # every event applied once: none lost, none of the resent or refetched ones twice
    assert _states_from_changelog(kafka_topics, app_id) == _replay_counts(data, events)[0]


def test_a_spare_worker_still_takes_over_after_idling_past_the_max_poll_interval(
    kafka_settings: KafkaSettings, dataset: Path, tmp_path: Path
) -> None:
    """Two workers, one partition: the spare one holds nothing and idles for three max poll
    intervals, stays in the group, and takes the partition over when the other stops. faust
    does not poll aiokafka while no partition is active, so aiokafka 0.14.0 used to leave
    the group after the interval and never rejoin (aiokafka #1187): the spare was useless."""
    create_topics(kafka_settings, partitions=1)
    produce_files(kafka_settings, dataset / "items.jsonl", None, progress=False)
    app_id = f"it-{uuid.uuid4().hex[:6]}"
    workers = [
        WorkerProcess(
            kafka_settings,
            tmp_path / name,
            app_id,
            IT_CONSUMER_MAX_POLL_INTERVAL_S=str(POLL_S),
            IT_ENCODER_CACHE_DIR=str(tmp_path / f"{name}-emb"),  # one process per cache
        )
        for name in ("a", "b")
    ]
    a, b = (w.start().wait_ready() for w in workers)
    try:
        wait_until(lambda: _group_members(kafka_settings, app_id) == 2, 60, "two members")
        time.sleep(3 * POLL_S)
        assert _group_members(kafka_settings, app_id) == 2
        assert a.stop() == 0, a.log_tail()
        events = dataset / "events.jsonl"
        produce_files(kafka_settings, None, events, progress=False, single_topic=True)
        total = _lines(events)
        wait_until(lambda: (b.health() or {}).get("processed", 0) >= total, 120, "takeover")
    finally:
        a.stop()
        rc = b.stop()
    assert rc == 0, b.log_tail()


def _set_topic_config(settings: KafkaSettings, topic: str, name: str, value: str | None) -> None:
    """Set (or, with ``None``, remove) one config of ``topic`` on the broker."""
    admin = AdminClient(settings.client_config())
    op = AlterConfigOpType.SET if value is not None else AlterConfigOpType.DELETE
    entry = ConfigEntry(name, value, incremental_operation=op)
    resource = ConfigResource(ResourceType.TOPIC, topic, incremental_configs=[entry])
    for future in admin.incremental_alter_configs([resource]).values():
        future.result(timeout=30)


def test_a_worker_that_dies_after_publishing_a_batch_counts_its_signals_once(
    kafka_topics: KafkaSettings, dataset: Path, tmp_path: Path
) -> None:
    """The crash between a batch's outputs and its state, made certain: the changelog
    refuses every record (its broker-side size limit lowered), so the worker publishes a
    batch's recommendations and signal increments, fails to write its states, and exits
    without committing (status 70). Restarted (the limit restored), it gets the batch again:
    the states are applied once, and so are the increments (replay's, exactly)."""
    produce_files(kafka_topics, dataset / "items.jsonl", None, progress=False)
    app_id = f"it-{uuid.uuid4().hex[:6]}"
    events = dataset / "events.jsonl"
    lines = [x for x in events.read_bytes().splitlines() if x.strip()]
    first, second = tmp_path / "first.jsonl", tmp_path / "second.jsonl"
    first.write_bytes(b"\n".join(lines[: len(lines) // 2]) + b"\n")
    second.write_bytes(b"\n".join(lines[len(lines) // 2 :]) + b"\n")
    changelog = f"{app_id}-users-changelog"
    w = WorkerProcess(kafka_topics, tmp_path / "w", app_id, IT_MAX_BATCH_ATTEMPTS="2")
    w.start().wait_ready()
    try:
        produce_files(kafka_topics, None, first, progress=False, single_topic=True)
        wait_until(lambda: _committed_to_end(kafka_topics, app_id), 120, "first half committed")
        _set_topic_config(kafka_topics, changelog, "max.message.bytes", "64")
        produce_files(kafka_topics, None, second, progress=False, single_topic=True)
        assert w.proc is not None
        assert w.proc.wait(120) == 70, w.log_tail()
        assert "exiting without committing offsets" in w.log_tail()
        assert not _committed_to_end(kafka_topics, app_id)
        _set_topic_config(kafka_topics, changelog, "max.message.bytes", None)
        w.start().wait_ready()
        wait_until(lambda: _committed_to_end(kafka_topics, app_id), 240, "all committed")
    finally:
        w.stop()
    want, want_signals = _replay_counts(dataset, events)
    assert _states_from_changelog(kafka_topics, app_id) == want
    _assert_same_signals(_published_signals(kafka_topics), want_signals)


def test_two_workers_split_the_partitions_and_agree_with_replay(
    kafka_topics: KafkaSettings, dataset: Path, tmp_path: Path
) -> None:
    produce_files(kafka_topics, dataset / "items.jsonl", None, progress=False)
    app_id = f"it-{uuid.uuid4().hex[:6]}"
    # each worker has its own embedding cache (a RocksDB directory is one process's)
    a = WorkerProcess(
        kafka_topics, tmp_path / "a", app_id, IT_ENCODER_CACHE_DIR=str(tmp_path / "a-emb")
    ).start()
    b = WorkerProcess(
        kafka_topics, tmp_path / "b", app_id, IT_ENCODER_CACHE_DIR=str(tmp_path / "b-emb")
    ).start()
    try:
        a.wait_ready()
        b.wait_ready()
        produce_files(
            kafka_topics, None, dataset / "events.jsonl", progress=False, single_topic=True
        )
        wait_until(lambda: _settled([a, b], kafka_topics, app_id), 300, "workers settled")
        pa = {
            p
            for p in (a.health() or {}).get("partitions", [])
            if p.startswith(kafka_topics.topic("events:"))
        }
        pb = {
            p
            for p in (b.health() or {}).get("partitions", [])
            if p.startswith(kafka_topics.topic("events:"))
        }
        got = last_by_key(read_topic(kafka_topics, "recommendations"))
        got_alerts = [json.loads(v) for _, v in read_topic(kafka_topics, "interest-drift")]
    finally:
        assert a.stop() == 0, a.log_tail()
        assert b.stop() == 0, b.log_tail()
    assert pa, pa
    assert pb, pb
    assert not pa & pb, (pa, pb)
    want = _replay(dataset, dataset / "events.jsonl", tmp_path)
    _assert_same_recommendations(got, want["recs"])
    assert _alert_keys(got_alerts) == _alert_keys(want["alerts"])
    _assert_same_signals(
        _published_signals(kafka_topics), _replay_counts(dataset, dataset / "events.jsonl")[1]
    )


def test_a_worker_joining_mid_stream_takes_partitions_with_their_state(
    kafka_topics: KafkaSettings, dataset: Path, tmp_path: Path
) -> None:
    """A rebalance with events in flight: a second worker joins while the first is busy;
    partitions move with their state (the changelog) and what their old owner published
    (signals), and the outcome is replay's: per-user event counts, signal increments,
    final recommendations and drift alerts."""
    produce_files(kafka_topics, dataset / "items.jsonl", None, progress=False)
    app_id = f"it-{uuid.uuid4().hex[:6]}"
    events = dataset / "events.jsonl"
    total = _lines(events)
    a = WorkerProcess(
        kafka_topics, tmp_path / "a", app_id, IT_ENCODER_CACHE_DIR=str(tmp_path / "a-emb")
    )
    b = WorkerProcess(
        kafka_topics, tmp_path / "b", app_id, IT_ENCODER_CACHE_DIR=str(tmp_path / "b-emb")
    )
    producer = threading.Thread(
        target=produce_files,
        args=(kafka_topics, None, events),
        kwargs={"progress": False, "single_topic": True, "rate": total / 90},
    )
    a.start().wait_ready()
    producer.start()
    try:
        wait_until(lambda: (a.health() or {}).get("processed", 0) > total // 10, 120, "progress")
        b.start().wait_ready()
        assert producer.is_alive(), "events must still be coming when the second worker joins"
        producer.join()
        wait_until(lambda: _settled([a, b], kafka_topics, app_id), 300, "workers settled")
        taken = (b.health() or {}).get("partitions", [])
        got = last_by_key(read_topic(kafka_topics, "recommendations"))
        got_alerts = [json.loads(v) for _, v in read_topic(kafka_topics, "interest-drift")]
    finally:
        producer.join()
        assert a.stop() == 0, a.log_tail()
        assert b.stop() == 0, b.log_tail()
    assert any(p.startswith(kafka_topics.topic("events:")) for p in taken), taken
    want_counts, want_signals = _replay_counts(dataset, events)
    assert _states_from_changelog(kafka_topics, app_id) == want_counts
    _assert_same_signals(_published_signals(kafka_topics), want_signals)
    want = _replay(dataset, events, tmp_path)
    _assert_same_recommendations(got, want["recs"])
    assert set(_alert_keys(got_alerts)) == set(_alert_keys(want["alerts"]))  # at-least-once


def _signal_ends(settings: KafkaSettings) -> dict[int, int]:
    """The end offset of each ``signals`` partition."""
    consumer = Consumer({**settings.client_config(), "group.id": f"t-{uuid.uuid4().hex[:8]}"})
    try:
        full = settings.topic("signals")
        meta = consumer.list_topics(full, timeout=10).topics[full]
        return {
            p: consumer.get_watermark_offsets(TopicPartition(full, p), timeout=10)[1]
            for p in meta.partitions
        }
    finally:
        consumer.close()


def _checkpoint_covered(w: WorkerProcess) -> float:
    return w.metrics().get("interest_tracker_signal_checkpoint_covered_records", 0.0)


def test_a_restart_reads_the_signals_on_from_a_checkpoint(
    kafka_topics: KafkaSettings, dataset: Path, tmp_path: Path
) -> None:
    """The worker writes signals checkpoints; the ``signals`` records the last one covers
    are then deleted, and the worker restarted: the recommendations of the users of the
    later events still agree with replay of every event, so the earlier increments came
    back from the checkpoint (reading ``signals`` from its start would miss them)."""
    produce_files(kafka_topics, dataset / "items.jsonl", None, progress=False)
    app_id = f"it-{uuid.uuid4().hex[:6]}"
    lines = [x for x in (dataset / "events.jsonl").read_bytes().splitlines() if x.strip()]
    half = len(lines) // 2
    first, second = tmp_path / "first.jsonl", tmp_path / "second.jsonl"
    first.write_bytes(b"\n".join(lines[:half]) + b"\n")
    second.write_bytes(b"\n".join(lines[half:]) + b"\n")
    w = WorkerProcess(kafka_topics, tmp_path / "w", app_id, IT_SIGNALS_CHECKPOINT_S="1")
    w.start()
    try:
        w.wait_ready()
        assert w.health()["signals_checkpoint_covered"] is None  # type: ignore[index]
        produce_files(kafka_topics, None, first, progress=False, single_topic=True)
        wait_until(lambda: _settled([w], kafka_topics, app_id), 240, "first half settled")
        ends = _signal_ends(kafka_topics)
        assert sum(ends.values()) > 0
        wait_until(lambda: _checkpoint_covered(w) == sum(ends.values()), 60, "a checkpoint")
        assert w.stop() == 0, w.log_tail()
        admin = AdminClient(kafka_topics.client_config())
        full = kafka_topics.topic("signals")
        gone = [TopicPartition(full, p, end) for p, end in ends.items() if end > 0]
        for f in admin.delete_records(gone).values():
            f.result(timeout=30)
        w.start().wait_ready()
        assert w.health()["signals_checkpoint_covered"] == sum(ends.values())  # type: ignore[index]
        produce_files(kafka_topics, None, second, progress=False, single_topic=True)
        wait_until(lambda: _settled([w], kafka_topics, app_id), 240, "second half settled")
        got = last_by_key(read_topic(kafka_topics, "recommendations"))
    finally:
        w.stop()
    want = _replay(dataset, dataset / "events.jsonl", tmp_path)["recs"]
    later = {json.loads(x)["user_id"] for x in lines[half:]} & want.keys()
    assert len(later) > 20
    _assert_same_recommendations({u: got[u] for u in later}, {u: want[u] for u in later})
    assert "signals restored from a checkpoint" in w.log_path.read_text(errors="replace")
