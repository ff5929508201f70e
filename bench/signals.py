"""What the ``signals`` topic costs a restart: its bytes per event, and how fast a worker's
engine re-reads them against how fast it processed the events that made them.

Every worker reads the whole ``signals`` topic at start (the global co-visitation and
popularity increments), so a restart re-reads every record the topic retains. This runs the
worker's engine side (:class:`streams.host.calls.EngineCalls` over a staged codec store, as
the worker builds it, signals applied when read back) over a dataset in batches of
``--batch-size`` (the worker's ``IT_BATCH_MAX_EVENTS``), keeps the encoded signal records the
worker would publish, then applies all of them to a fresh engine with the same catalog, as a
restarted worker does. Both are timed in one run, on warm item vectors (the embedding cache
of ``bench/replay.py``); Kafka's own reading is not included.

Then what a start from a checkpoint costs instead: the writer's signals and ledger as a
checkpoint blob (:meth:`~streams.host.calls.EngineCalls.checkpoint_signals`), its size, the
time to make it and to load it into a third engine (which must then hold what the re-reading
engine holds: checked).

Ends by printing one JSON line: ``{"process_events_per_s": …, "reread_events_per_s": …,
"ratio": …, "signal_bytes_per_event": …, "checkpoint_bytes": …, ...}``; ``ratio`` = re-read
rate / processing rate: a restart after a day of full-speed traffic re-reads that day in
about ``1/ratio`` of it, while a checkpoint's size is bounded by the catalog.
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import itertools
import json
import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from encoders.protocol import TextEncoder
    from streams.host.calls import EngineCalls

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT.parent))
sys.path.insert(0, str(ROOT))

from bench_data import CACHE, pipeline_dataset  # noqa: E402

FAR_FUTURE = 4_102_444_800_000  # 2100-01-01: no generated event is in the future of it


def _calls(items: Path, encoder: TextEncoder) -> EngineCalls:
    from state.store import CodecUserStore
    from streams.core.engine import Engine
    from streams.core.params import EngineParams
    from streams.datasets.files import read_messages
    from streams.host.calls import EngineCalls
    from streams.host.staging import StageProxy

    params = dataclasses.replace(EngineParams(), apply_signals_locally=False)  # as the worker
    proxy = StageProxy()
    engine = Engine(params, encoder, users=CodecUserStore(proxy, cache_bytes=512 << 20))
    calls = EngineCalls(engine, proxy)
    catalog = list(read_messages(items))
    for i in range(0, len(catalog), 5000):
        calls.apply_items(catalog[i : i + 5000])
    return calls


def main() -> None:
    from replay import _warm_encoder

    from streams.datasets.files import read_messages

    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--items", type=int, default=100_000)
    ap.add_argument("--users", type=int, default=20_000)
    ap.add_argument("--events-per-user", type=float, default=7)
    ap.add_argument("--limit", type=int, default=60_000, help="events processed")
    ap.add_argument("--batch-size", type=int, default=2000)
    args = ap.parse_args()
    data = pipeline_dataset(args.items, args.users, args.events_per_user)
    encoder = _warm_encoder(data / "items.jsonl", data / "events.jsonl", CACHE / "bench-embeddings")
    events = [
        m._replace(partition=0, offset=i)  # positions, as the worker's messages have
        for i, m in enumerate(itertools.islice(read_messages(data / "events.jsonl"), args.limit))
    ]
    writer = _calls(data / "items.jsonl", encoder)
    reader = _calls(data / "items.jsonl", encoder)
    gc.collect()
    records: list[bytes] = []
    process_s = 0.0
    for i in range(0, len(events), args.batch_size):
        start = time.perf_counter()
        out = writer.process(events[i : i + args.batch_size], {}, now_ms=FAR_FUTURE)
        writer.apply_signals(out.signal_records)  # read back, as every worker does
        process_s += time.perf_counter() - start
        records += out.signal_records
    start = time.perf_counter()
    reread = reader.apply_signals(records)
    reread_s = time.perf_counter() - start
    assert reread.applied == len(records)
    start = time.perf_counter()
    blob = writer.checkpoint_signals({0: len(records)})
    checkpoint_s = time.perf_counter() - start
    restored = _calls(data / "items.jsonl", encoder)
    start = time.perf_counter()
    assert restored.restore_signals(blob) == {0: len(records)}
    restore_s = time.perf_counter() - start
    held, want = restored.checkpoint_signals({}), reader.checkpoint_signals({})
    assert held == want, "the restored engine holds what the re-reading one does"
    size = sum(map(len, records))
    process_eps, reread_eps = len(events) / process_s, len(events) / reread_s
    print(
        json.dumps(
            {
                "process_events_per_s": round(process_eps, 1),
                "reread_events_per_s": round(reread_eps, 1),
                "ratio": round(reread_eps / process_eps, 1),
                "signal_bytes_per_event": round(size / len(events), 1),
                "reread_mb_per_s": round(size / reread_s / 1e6, 1),
                "checkpoint_bytes": len(blob),
                "checkpoint_s": round(checkpoint_s, 3),
                "restore_s": round(restore_s, 3),
                "reread_s": round(reread_s, 3),
                "records": len(records),
                "events": len(events),
                "batch_size": args.batch_size,
                "items": args.items,
            }
        )
    )


if __name__ == "__main__":
    main()
