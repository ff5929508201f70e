"""The pipeline through a real broker: one worker's sustained events/s and p50/p99 latency,
side by side with a bare confluent-kafka consume → produce loop on the same broker and events.

Runs its own single-node broker (deploy/kafka/kafka.sh) on free ports. Phases:

1. generate a catalog of ``--items`` items and ``--events`` events; produce the items; start a
   worker (item vectors come from a persistent embedding cache: warm after the first run);
2. bare loop: consume the pre-produced events and produce each to a sink topic (events/s);
3. throughput: the worker consumes the same backlog (events/s from its first batch to done);
4. latency: events stamped with the wall clock are produced at half the measured throughput
   (or ``--latency-rate``) for ``--latency-seconds`` (by a producer lingering
   ``--load-linger-ms``, librdkafka's default of 5 ms); latency = broker timestamp of the
   recommendation − event ts (of live events; ``stale_recommendations`` counts those with an
   older ts, which none should have). The load generator serialises its events beforehand, so its
   own CPU time stays small (it shares the machine with the worker and the broker).

Also printed: for the latency phase, the cores each process used on average
(``latency_cpu_cores``: the worker, its engine, the broker and this script's load generator
and consumer) and its engine calls (``latency_engine_calls``: how many, their mean size,
their mean seconds in the engine and from hand-over to completion); for the throughput
phase, the CPU microseconds per event of the worker process (faust, tables, publishing), its
engine process and the broker, and what stayed idle of the machine's cores
(``throughput_cpu_us_per_event``), and its engine calls and their mean size.

Ends by printing one JSON line:
``{"events_per_s", "bare_loop_events_per_s", "ratio", "p50_ms", "p99_ms", ...}``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import orjson
from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench_data import CACHE, pipeline_dataset  # noqa: E402

from streams.commands.produce import produce_files  # noqa: E402
from streams.kafka.local import local_kafka  # noqa: E402
from streams.kafka.routing import PRODUCER_DEFAULTS  # noqa: E402
from streams.kafka.topics import TopicSpec, apply_topics, load_topic_specs  # noqa: E402
from streams.settings import DEFAULT_TOPICS_SPEC, KafkaSettings, Settings  # noqa: E402
from tests.integration.worker_proc import WorkerProcess, wait_until  # noqa: E402

_DEFAULT_WAIT = str(Settings.model_fields["batch_max_wait_s"].default)
"""The product's batch window (the test helper's worker uses its own)."""


def _log(msg: str) -> None:
    print(f"[bench/pipeline] {msg}", file=sys.stderr, flush=True)


def bare_loop(settings: KafkaSettings, n: int) -> float:
    """events/s of consume(events) → produce(sink) with confluent-kafka, to ``n`` records."""
    consumer = Consumer(
        {
            **settings.client_config(),
            "group.id": f"bare-{uuid.uuid4().hex[:6]}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": True,
        }
    )
    producer = Producer({**settings.client_config(), **PRODUCER_DEFAULTS})
    consumer.subscribe([settings.topic("events")])
    sink = settings.topic("bench.sink")
    done, start = 0, 0.0
    while done < n:
        msgs = consumer.consume(2000, timeout=1.0)
        if msgs and not start:
            start = time.perf_counter()
        for m in msgs:
            if m.error() is None:
                while True:
                    try:
                        producer.produce(sink, key=m.key(), value=m.value())
                        break
                    except BufferError:  # the local queue is full (e.g. no leader known yet)
                        producer.poll(0.05)
                done += 1
        producer.poll(0)
    producer.flush(60)
    elapsed = time.perf_counter() - start
    consumer.close()
    return n / elapsed


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` so far (0 when it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_ticks() -> list[int]:
    """The machine's CPU ticks so far: user, nice, system, idle, iowait, irq, softirq, steal."""
    with open("/proc/stat") as f:
        return [int(x) for x in f.readline().split()[1:9]]


def machine_shares(t0: list[int], t1: list[int]) -> dict[str, float]:
    """How the machine's CPU time went between two :func:`machine_ticks`: ``busy`` (user,
    system, interrupts), ``idle`` and ``steal`` (taken by the hypervisor for other guests: a
    shared VM's slow phases), as fractions."""
    d = [b - a for a, b in zip(t0, t1, strict=True)]
    total = sum(d) or 1
    return {
        "busy": round((total - d[3] - d[4] - d[7]) / total, 3),
        "idle": round((d[3] + d[4]) / total, 3),
        "steal": round(d[7] / total, 3),
    }


def process_pids(worker: WorkerProcess, kafka_dir: Path) -> dict[str, int]:
    """The worker's process, its engine child and the broker."""
    assert worker.proc is not None
    pid = worker.proc.pid
    pids = {"worker": pid, "broker": int((kafka_dir / "kafka.pid").read_text().strip())}
    for task in Path(f"/proc/{pid}/task").iterdir():
        for child in (task / "children").read_text().split():
            cmdline = Path(f"/proc/{child}/cmdline").read_bytes()
            if b"spawn_main" in cmdline and b"resource_tracker" not in cmdline:
                pids["engine"] = int(child)
    return pids


def worker_throughput(
    worker: WorkerProcess, n: int, timeout: float, pids: dict[str, int]
) -> tuple[float, dict[str, float], dict[str, Any]]:
    """events/s from the worker's first processed batch until it has processed ``n``; the CPU
    microseconds per event of each of ``pids`` over that span; the engine calls made
    (:func:`_calls_between`) and how the machine's CPU time went (:func:`machine_shares`)."""
    wait_until(lambda: (worker.health() or {}).get("processed", 0) > 0, timeout, "first batch")
    cpu0 = {name: cpu_seconds(pid) for name, pid in pids.items()}
    m0 = worker.metrics()
    ticks = machine_ticks()
    t0, p0 = time.perf_counter(), (worker.health() or {}).get("processed", 0)
    wait_until(
        lambda: (worker.health() or {}).get("processed", 0) >= n, timeout, "backlog", step=0.2
    )
    elapsed = time.perf_counter() - t0
    cpu = {
        name: round((cpu_seconds(pid) - cpu0[name]) / (n - p0) * 1e6, 1)
        for name, pid in pids.items()
    }
    cpu["idle"] = round(
        max(0.0, (os.cpu_count() or 1) * elapsed / (n - p0) * 1e6 - sum(cpu.values())), 1
    )
    engine_calls: dict[str, Any] = {
        **_calls_between(m0, worker.metrics()),
        "machine": machine_shares(ticks, machine_ticks()),
    }
    return float(n - p0) / elapsed, cpu, engine_calls


_TS = 7_777_777_777_777  # a placeholder no event carries


def live_templates(lines: list[bytes]) -> list[tuple[bytes, bytes, bytes]]:
    """(key, head, tail) per event: ``head + ts + tail`` is the event with a fresh event id
    and ``ts`` — serialised before the phase, so the load generator's own CPU time stays
    small (it shares the machine with the worker and the broker)."""
    out = []
    for i, line in enumerate(lines):
        body = orjson.loads(line)
        body["event_id"] = f"live-{i}"
        body["ts"] = _TS
        head, tail = orjson.dumps(body).split(str(_TS).encode())
        out.append((body["user_id"].encode(), head, tail))
    return out


def latency_phase(
    settings: KafkaSettings, lines: list[bytes], rate: float, seconds: float, linger_ms: float
) -> tuple[list[float], int]:
    """Produce live-stamped events at ``rate``; latencies (ms) of the recommendations of
    live events, and how many recommendations carried an older time (``stale``: a backlog
    user's recommendation published during the phase; none is expected)."""
    consumer = Consumer(
        {
            **settings.client_config(),
            "group.id": f"lat-{uuid.uuid4().hex[:6]}",
            "auto.offset.reset": "latest",
        }
    )
    consumer.subscribe([settings.topic("recommendations")])
    consumer.poll(2.0)  # join the group before the load starts
    producer = Producer({**settings.client_config(), **PRODUCER_DEFAULTS, "linger.ms": linger_ms})
    templates = live_templates(lines[: int(rate * seconds) + 1])
    topic = settings.topic("events")
    stop = threading.Event()

    def load() -> None:
        start = time.perf_counter()
        for i, (key, head, tail) in enumerate(templates):
            if stop.is_set() or time.perf_counter() - start > seconds:
                break
            ts = b"%d" % (time.time_ns() // 1_000_000)
            producer.produce(topic, key=key, value=head + ts + tail)
            if i % 64 == 0:
                producer.poll(0)
            ahead = (i + 1) / rate - (time.perf_counter() - start)
            if ahead > 0.001:  # pace in steps of about a millisecond, not per event
                time.sleep(ahead)
        producer.flush(30)

    loader = threading.Thread(target=load)
    loader.start()
    latencies: list[float] = []
    stale = 0
    phase_start_ms = time.time_ns() // 1_000_000
    deadline = time.perf_counter() + seconds + 10
    while time.perf_counter() < deadline:
        msg = consumer.poll(0.5)
        if msg is None or msg.error() is not None:
            continue
        ts = orjson.loads(msg.value() or b"{}").get("ts")
        _, broker_ts = msg.timestamp()
        if isinstance(ts, int) and broker_ts > 0:
            if ts < phase_start_ms:
                stale += 1
            else:
                latencies.append(float(broker_ts - ts))
    stop.set()
    loader.join()
    consumer.close()
    return latencies, stale


def _calls_between(m0: dict[str, float], m1: dict[str, float]) -> dict[str, float]:
    """Engine calls completed between two metric reads: how many, their mean size and their
    mean seconds in the engine and from hand-over to completion."""
    calls = m1["interest_tracker_batch_size_count"] - m0["interest_tracker_batch_size_count"]
    if not calls:
        return {"calls": 0.0}
    engine = 'interest_tracker_batch_stage_seconds_sum{stage="engine"}'
    return {
        "calls": calls,
        "mean_events": round(
            (m1["interest_tracker_batch_size_sum"] - m0["interest_tracker_batch_size_sum"]) / calls,
            1,
        ),
        "mean_engine_s": round((m1.get(engine, 0) - m0.get(engine, 0)) / calls, 3),
        "mean_total_s": round(
            (
                m1["interest_tracker_batch_duration_seconds_sum"]
                - m0["interest_tracker_batch_duration_seconds_sum"]
            )
            / calls,
            3,
        ),
    }


def measured_latency(
    settings: KafkaSettings,
    lines: list[bytes],
    rate: float,
    seconds: float,
    *,
    pids: dict[str, int],
    linger_ms: float,
) -> tuple[list[float], int, dict[str, Any]]:
    """:func:`latency_phase`, and the cores each of ``pids`` and this script (the load
    generator and the latency consumer: ``bench``) used on average meanwhile, and how the
    machine's CPU time went (``machine``: :func:`machine_shares`)."""
    pids = {**pids, "bench": os.getpid()}
    cpu0 = {name: cpu_seconds(pid) for name, pid in pids.items()}
    t0, ticks = time.perf_counter(), machine_ticks()
    lat, stale = latency_phase(settings, lines, rate, seconds, linger_ms)
    elapsed = time.perf_counter() - t0
    cores: dict[str, Any] = {
        name: round((cpu_seconds(pid) - cpu0[name]) / elapsed, 2) for name, pid in pids.items()
    }
    cores["machine"] = machine_shares(ticks, machine_ticks())
    return lat, stale, cores


def summary(
    args: argparse.Namespace,
    *,
    eps: float,
    bare: float,
    rate: float,
    lat: list[float],
    stale: int,
    m: dict[str, float],
    cpu: dict[str, float],
    calls: dict[str, Any],
    events: int,
) -> dict[str, Any]:
    """The JSON line's fields."""
    arr = np.array(lat) if lat else np.array([float("nan")])
    result: dict[str, Any] = {
        "events_per_s": round(eps, 1),
        "bare_loop_events_per_s": round(bare, 1),
        "ratio": round(eps / bare, 4),
        "p50_ms": round(float(np.percentile(arr, 50)), 1),
        "p99_ms": round(float(np.percentile(arr, 99)), 1),
        "latency_samples": len(lat),
        "stale_recommendations": stale,
        "latency_rate": round(rate, 1),
        "load_linger_ms": args.load_linger_ms,
        "items": args.items,
        "users": args.users,
        "events": events,
        "partitions": args.partitions,
        "batches": m.get("interest_tracker_batch_size_count", 0.0),
        "throughput_cpu_us_per_event": cpu,
        "throughput_engine_calls": calls,
        "duplicates": m.get("interest_tracker_events_duplicate_total", 0.0),
        "stage_seconds": {
            stage: round(
                m.get(f'interest_tracker_batch_stage_seconds_sum{{stage="{stage}"}}', 0), 2
            )
            for stage in ("read", "engine", "publish", "state")
        },
    }
    return result


def _args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--items", type=int, default=100_000)
    ap.add_argument("--users", type=int, default=20_000)
    ap.add_argument("--events-per-user", type=float, default=10.0)
    ap.add_argument("--partitions", type=int, default=4)
    ap.add_argument("--latency-seconds", type=float, default=30.0)
    ap.add_argument(
        "--latency-rate",
        type=float,
        default=None,
        help="events/s of the latency phase (default: half the measured throughput); "
        "a fixed rate compares versions at equal load",
    )
    ap.add_argument(
        "--load-linger-ms",
        type=float,
        default=5.0,
        help="linger.ms of the latency phase's producer (librdkafka's default: 5); its "
        "wait is part of the measured latency, and a shorter one sends the broker more, "
        "smaller requests",
    )
    ap.add_argument("--quick", action="store_true", help="5k items, 2k users, 10 s latency")
    args = ap.parse_args()
    if args.quick:
        args.items, args.users, args.latency_seconds = 5000, 2000, 10.0
    return args


def main() -> None:
    args = _args()
    work = Path(tempfile.mkdtemp(prefix="it-bench-"))
    data = pipeline_dataset(args.items, args.users, args.events_per_user, _log)
    events = data / "events.jsonl"
    lines = [x for x in events.read_bytes().splitlines() if x.strip()]
    try:
        with local_kafka(work / "kafka") as bootstrap:
            settings = KafkaSettings(bootstrap=bootstrap, topic_prefix="bench.")
            specs = load_topic_specs(
                DEFAULT_TOPICS_SPEC, prefix="bench.", partitions=args.partitions
            )
            admin = AdminClient(settings.client_config())
            sink = TopicSpec(settings.topic("bench.sink"), args.partitions, 1)
            apply_topics(admin, [*specs, sink])
            produce_files(settings, data / "items.jsonl", events, progress=False, single_topic=True)
            _log(f"produced {len(lines)} events; bare confluent-kafka loop")
            bare = bare_loop(settings, len(lines))
            _log(f"bare loop: {bare:,.0f} events/s; starting the worker")
            worker = WorkerProcess(
                settings,
                work / "w",
                "bench-worker",
                IT_ENCODER_CACHE_DIR=str(CACHE / "bench-embeddings"),
                IT_REFRESH_IDLE_S="3600",
                IT_BATCH_MAX_WAIT_S=os.environ.get("IT_BATCH_MAX_WAIT_S", _DEFAULT_WAIT),
                IT_LOG_LEVEL="WARNING",
            ).start()
            try:
                worker.wait_ready(timeout=3600)
                pids = process_pids(worker, work / "kafka")
                eps, cpu, calls = worker_throughput(worker, len(lines), 1800, pids)
                rate = args.latency_rate or eps / 2
                _log(f"worker: {eps:,.0f} events/s; latency at {rate:,.0f} events/s")
                m0 = worker.metrics()
                lat, stale, lat_cpu = measured_latency(
                    settings,
                    lines,
                    rate,
                    args.latency_seconds,
                    pids=pids,
                    linger_ms=args.load_linger_ms,
                )
                m = worker.metrics()
            finally:
                worker.stop()
    finally:
        kept = CACHE / "bench-pipeline-worker.log"  # the last run's worker log, for post-mortems
        if (work / "w.log").exists():
            shutil.copyfile(work / "w.log", kept)
            _log(f"worker log kept in {kept}")
        shutil.rmtree(work, ignore_errors=True)  # the broker log and the state: about 1 GB
    figures = summary(
        args,
        eps=eps,
        bare=bare,
        rate=rate,
        lat=lat,
        stale=stale,
        m=m,
        cpu=cpu,
        calls=calls,
        events=len(lines),
    )
    figures["latency_cpu_cores"] = lat_cpu
    figures["latency_engine_calls"] = _calls_between(m0, m)
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
