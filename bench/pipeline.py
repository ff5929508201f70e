"""The pipeline through a real broker: one worker's sustained events/s and p50/p99 latency,
side by side with a bare confluent-kafka consume → produce loop on the same broker and events.

Runs its own single-node broker (deploy/kafka/kafka.sh) on free ports. Phases:

1. generate a catalog of ``--items`` items and ``--events`` events; produce the items; start a
   worker (item vectors come from a persistent embedding cache: warm after the first run);
2. bare loop: consume the pre-produced events and produce each to a sink topic (events/s);
3. throughput: the worker consumes the same backlog (events/s from its first batch to done);
4. latency: events stamped with the wall clock are produced at half the measured throughput
   (or ``--latency-rate``) for ``--latency-warmup-seconds`` and then ``--latency-seconds``
   (by a producer lingering ``--load-linger-ms``, librdkafka's default of 5 ms); latency =
   broker timestamp of the recommendation − event ts, of the events created after the
   warm-up (``stale_recommendations`` counts recommendations with a ts older than the phase,
   which none should have). The load generator serialises its events beforehand, so its own
   CPU time stays small (it shares the machine with the worker and the broker).

   The warm-up is there because the phase starts from a transient, not a steady state: a
   fresh broker's JIT compiler threads used 0.29 cores in the first 10 s of this phase, 0.17
   in the next 10 and 0.05 in the 10 after that (2026-12-03, 4.6k events/s, on two cores; a
   production broker has long compiled its paths), and the worker, just done with the
   backlog, runs large calls until it has caught up (a per-call log on 2026-12-03 at 4.2k
   events/s: calls of 900–2,000 events and 0.5–1.3 s latencies for the first 25 s, then
   calls of ~100 events, p50 ~90 ms).

Also printed: for the latency phase after its warm-up, the cores each process used on
average (``latency_cpu_cores``: the worker, its engine, the broker and, of the broker's, its
JIT compiler threads ``broker_jit``, and this script's load generator and consumer) and its
engine calls (``latency_engine_calls``: how many, their mean size, their mean seconds in the
engine and from hand-over to completion, the seconds the worker and the engine spent
collecting garbage meanwhile, and the engine's decoded-state cache hit ratio); for the
throughput phase, the CPU microseconds per
event of the worker process (faust, tables, publishing), its engine process and the broker
(``broker_jit`` of it), and what stayed idle of the machine's cores
(``throughput_cpu_us_per_event``), and its engine calls and their mean size; and the p99
of each second of the latency window's events (``p99_ms_by_second``: a tail spread over the
window, or a few slow seconds); and the worker's start-up (``worker_ready_s``: from its
start to a healthy worker, the catalog read from the topic with its vectors cached, the
item index built, the group joined).

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


def jit_seconds(pid: int) -> float:
    """CPU seconds of the JIT compiler threads (HotSpot's ``C1``/``C2 CompilerThread``) of
    JVM process ``pid``: a broker compiles its hot paths for minutes after it starts and
    again when the request mix changes, which a long-running broker has long done."""
    total = 0
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            if (task / "comm").read_text().startswith(("C1 ", "C2 ")):
                fields = (task / "stat").read_text().rpartition(")")[2].split()
                total += int(fields[11]) + int(fields[12])
        except OSError:
            continue
    return total / os.sysconf("SC_CLK_TCK")


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
    window = Window(worker, pids)
    window.open()
    p0 = (worker.health() or {}).get("processed", 0)
    wait_until(
        lambda: (worker.health() or {}).get("processed", 0) >= n, timeout, "backlog", step=0.2
    )
    window.close()
    events = n - p0
    cpu = {name: round(s / events * 1e6, 1) for name, s in window.cpu_s.items()}
    processes = sum(v for k, v in cpu.items() if k != "broker_jit")  # the broker has it
    idle = (os.cpu_count() or 1) * window.elapsed / events * 1e6 - processes
    cpu["idle"] = round(max(0.0, idle), 1)
    return events / window.elapsed, cpu, {**window.calls, "machine": window.cores["machine"]}


_TS = 7_777_777_777_777  # a placeholder no event carries


def live_templates(lines: list[bytes], n: int) -> list[tuple[bytes, bytes, bytes]]:
    """(key, head, tail) of ``n`` events (``lines`` over again as often as needed, each with
    a fresh event id): ``head + ts + tail`` is the event with ``ts`` — serialised before the
    phase, so the load generator's own CPU time stays small (it shares the machine with the
    worker and the broker)."""
    out = []
    for i in range(n):
        body = orjson.loads(lines[i % len(lines)])
        body["event_id"] = f"live-{i}"
        body["ts"] = _TS
        head, tail = orjson.dumps(body).split(str(_TS).encode())
        out.append((body["user_id"].encode(), head, tail))
    return out


class Window:
    """What ``pids`` and the machine did between :meth:`open` and :meth:`close` (both
    phases): the seconds elapsed, the CPU seconds and the cores each process used on
    average, the broker's JIT compiler threads among them
    (``broker_jit``), how the machine's CPU time went (``machine``: :func:`machine_shares`)
    and the worker's engine calls (:func:`_calls_between`)."""

    def __init__(self, worker: WorkerProcess, pids: dict[str, int]) -> None:
        self.worker, self.pids = worker, pids
        self.cores: dict[str, Any] = {}
        self.calls: dict[str, Any] = {}
        self.elapsed = 0.0
        self.cpu_s: dict[str, float] = {}
        """CPU seconds of each process (and ``broker_jit``) in the window."""
        self.opened = self.closed = False

    def _now(self) -> tuple[float, dict[str, float], list[int], dict[str, float]]:
        cpu = {name: cpu_seconds(pid) for name, pid in self.pids.items()}
        cpu["broker_jit"] = jit_seconds(self.pids["broker"])
        return time.perf_counter(), cpu, machine_ticks(), self.worker.metrics()

    def open(self) -> None:
        self.opened, self._start = True, self._now()

    def close(self) -> None:
        t1, cpu1, ticks1, m1 = self._now()
        t0, cpu0, ticks0, m0 = self._start
        self.elapsed = t1 - t0
        self.cpu_s = {name: cpu1[name] - cpu0[name] for name in cpu1}
        self.cores = {name: round(v / self.elapsed, 2) for name, v in self.cpu_s.items()}
        self.cores["machine"] = machine_shares(ticks0, ticks1)
        self.calls = _calls_between(m0, m1)
        self.closed = True


def latency_phase(
    settings: KafkaSettings,
    templates: list[tuple[bytes, bytes, bytes]],
    rate: float,
    *,
    warmup_s: float,
    window: Window,
    linger_ms: float,
) -> tuple[list[float], list[int], list[float], int]:
    """Produce the live-stamped ``templates`` at ``rate``. The first ``warmup_s`` seconds
    are a warm-up: ``window`` opens when they are over and closes when the last event is
    produced. Returns the latencies (ms) of the recommendations of the events created in
    the window, the second of the window each of those events was created in, the
    latencies of the events created in the warm-up, and how many recommendations
    carried a time older than the phase (``stale``: a backlog user's recommendation
    published during the phase; none is expected)."""
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
    topic = settings.topic("events")

    def load() -> None:
        start = time.perf_counter()
        for i, (key, head, tail) in enumerate(templates):
            ts = b"%d" % (time.time_ns() // 1_000_000)
            producer.produce(topic, key=key, value=head + ts + tail)
            if i % 64 == 0:
                producer.poll(0)
            ahead = (i + 1) / rate - (time.perf_counter() - start)
            if ahead > 0.001:  # pace in steps of about a millisecond, not per event
                time.sleep(ahead)
        producer.flush(30)

    loader = threading.Thread(target=load)
    phase_start_ms = time.time_ns() // 1_000_000
    window_ms = phase_start_ms + warmup_s * 1000
    loader.start()
    latencies: list[float] = []
    second: list[int] = []
    warm: list[float] = []
    stale = 0
    deadline = time.perf_counter() + len(templates) / rate + 10
    while time.perf_counter() < deadline:
        if not window.opened and time.time_ns() // 1_000_000 >= window_ms:
            window.open()
        if window.opened and not window.closed and not loader.is_alive():
            window.close()
        # in batches: this process shares the machine, and a poll per record cost it more
        for msg in consumer.consume(1000, 0.1):
            if msg.error() is not None:
                continue
            ts = orjson.loads(msg.value() or b"{}").get("ts")
            _, broker_ts = msg.timestamp()
            if isinstance(ts, int) and broker_ts > 0:
                if ts < phase_start_ms:
                    stale += 1
                elif ts < window_ms:
                    warm.append(float(broker_ts - ts))
                else:
                    latencies.append(float(broker_ts - ts))
                    second.append(int((ts - window_ms) // 1000))
    loader.join()
    if not window.opened:  # not reached: the deadline is past the warm-up
        window.open()
    if not window.closed:  # the load outlasted the deadline: the machine fell far behind
        window.close()
    consumer.close()
    return latencies, second, warm, stale


_GC_PAUSES = {
    "worker": "interest_tracker_gc_pause_seconds_sum",
    "engine": "interest_tracker_engine_gc_pause_seconds_sum",
}


def _gc_between(m0: dict[str, float], m1: dict[str, float]) -> dict[str, dict[str, float]]:
    """Seconds each process spent in garbage collections between two metric reads, by
    generation (the worker's pause histograms)."""
    return {
        process: {
            gen: round(m1.get(key, 0.0) - m0.get(key, 0.0), 3)
            for gen in ("0", "1", "2")
            if (key := f'{name}{{generation="{gen}"}}') in m1
        }
        for process, name in _GC_PAUSES.items()
    }


def _calls_between(m0: dict[str, float], m1: dict[str, float]) -> dict[str, Any]:
    """Engine calls completed between two metric reads: how many, their mean size, their
    mean seconds in the engine and from hand-over to completion, the seconds the worker and
    the engine spent collecting garbage meanwhile (``gc_s``, by generation) and the engine's
    decoded-state cache hit ratio (:func:`_hit_ratio`)."""
    calls = m1["interest_tracker_batch_size_count"] - m0["interest_tracker_batch_size_count"]
    if not calls:
        return {"calls": 0.0, "gc_s": _gc_between(m0, m1)}
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
        "gc_s": _gc_between(m0, m1),
        "state_cache_hit_ratio": _hit_ratio(m0, m1),
    }


def _hit_ratio(m0: dict[str, float], m1: dict[str, float]) -> float | None:
    """The engine's decoded-state cache hits / (hits + misses) between two metric reads."""
    hits, misses = (
        m1.get(f"interest_tracker_state_cache_{k}_total", 0.0)
        - m0.get(f"interest_tracker_state_cache_{k}_total", 0.0)
        for k in ("hits", "misses")
    )
    return round(hits / (hits + misses), 3) if hits + misses else None


def measured_latency(
    settings: KafkaSettings,
    lines: list[bytes],
    rate: float,
    seconds: float,
    *,
    warmup_s: float,
    worker: WorkerProcess,
    pids: dict[str, int],
    linger_ms: float,
) -> tuple[list[float], list[int], list[float], int, Window]:
    """:func:`latency_phase` for ``warmup_s`` + ``seconds`` of load, and the :class:`Window`
    of its last ``seconds`` (``pids`` plus this script's load generator and latency consumer:
    ``bench``)."""
    templates = live_templates(lines, int(rate * (warmup_s + seconds)) + 1)
    window = Window(worker, {**pids, "bench": os.getpid()})
    lat, second, warm, stale = latency_phase(
        settings, templates, rate, warmup_s=warmup_s, window=window, linger_ms=linger_ms
    )
    return lat, second, warm, stale, window


def p99_by_second(lat: list[float], second: list[int]) -> list[int | None]:
    """The p99 (ms) of the events created in each second of the measured window: whether
    the tail is spread over the window or made by a few slow seconds (a stall); ``None``:
    a second without any (the last one is partial)."""
    if not lat:
        return []
    arr, sec = np.asarray(lat), np.asarray(second)
    return [
        round(float(np.percentile(arr[sec == s], 99))) if (sec == s).any() else None
        for s in range(int(sec.max()) + 1)
    ]


def summary(
    args: argparse.Namespace,
    *,
    eps: float,
    bare: float,
    rate: float,
    lat: list[float],
    warm: list[float],
    stale: int,
    m: dict[str, float],
    cpu: dict[str, float],
    calls: dict[str, Any],
    events: int,
) -> dict[str, Any]:
    """The JSON line's fields."""
    arr = np.array(lat) if lat else np.array([float("nan")])
    warm_arr = np.array(warm) if warm else np.array([float("nan")])
    result: dict[str, Any] = {
        "events_per_s": round(eps, 1),
        "bare_loop_events_per_s": round(bare, 1),
        "ratio": round(eps / bare, 4),
        "p50_ms": round(float(np.percentile(arr, 50)), 1),
        "p99_ms": round(float(np.percentile(arr, 99)), 1),
        "latency_samples": len(lat),
        "stale_recommendations": stale,
        "latency_rate": round(rate, 1),
        "latency_warmup_s": args.latency_warmup_seconds,
        "warmup_p50_ms": round(float(np.percentile(warm_arr, 50)), 1),
        "warmup_p99_ms": round(float(np.percentile(warm_arr, 99)), 1),
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
        "--latency-warmup-seconds",
        type=float,
        default=None,
        help="seconds of load at the latency phase's rate before it measures (the broker "
        "compiles for the new request mix, the worker catches up after the backlog; "
        "default 30, 5 with --quick)",
    )
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
    ap.add_argument(
        "--quick", action="store_true", help="5k items, 2k users, 10 s latency (5 s warm-up)"
    )
    args = ap.parse_args()
    if args.quick:
        args.items, args.users, args.latency_seconds = 5000, 2000, 10.0
    if args.latency_warmup_seconds is None:
        args.latency_warmup_seconds = 5.0 if args.quick else 30.0
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
            started = time.perf_counter()
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
                ready_s = time.perf_counter() - started  # the catalog, its vectors cached
                _log(f"worker ready in {ready_s:.1f} s")
                pids = process_pids(worker, work / "kafka")
                eps, cpu, calls = worker_throughput(worker, len(lines), 1800, pids)
                rate = args.latency_rate or eps / 2
                _log(f"worker: {eps:,.0f} events/s; latency at {rate:,.0f} events/s")
                lat, second, warm, stale, window = measured_latency(
                    settings,
                    lines,
                    rate,
                    args.latency_seconds,
                    warmup_s=args.latency_warmup_seconds,
                    worker=worker,
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
        warm=warm,
        stale=stale,
        m=m,
        cpu=cpu,
        calls=calls,
        events=len(lines),
    )
    figures["worker_ready_s"] = round(ready_s, 1)
    figures["latency_cpu_cores"] = window.cores
    figures["latency_engine_calls"] = window.calls
    figures["p99_ms_by_second"] = p99_by_second(lat, second)
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
