"""Replay throughput with warm item vectors, against a loop that only reads and parses.

Generates a synthetic dataset (or takes ``--items``/``--events``), encodes every item and
event text once with the real encoder (through a persistent embedding cache with
``--cache-dir``, so later runs skip the model work) and serves them from an in-memory cache
(so encoding is excluded), then, side by side in one run on the same file:

* ``events_per_s``: ``streams.commands.replay.run_replay`` through a fresh engine (item
  upserts before the clock starts; ``--emit final`` includes the final recommendations,
  computed by ``--jobs`` processes as the ``replay`` command does; ``--emit updates`` one
  recommendation per touched user per batch, as the worker does). The machine is a shared
  VM whose speed wanders by ±10 % from run to run, so this is the median of ``--repeat``
  (5) replays, each listed in ``runs_events_per_s``;
* ``parse_only_events_per_s``: a plain Python loop that reads the file and ``json.loads``
  each line (run before, between and after the replays; all its runs pooled).

Run conditions, also printed: ``--blas-threads`` (default 1) caps numpy's OpenBLAS pool
before numpy loads — on a small shared machine its worker threads spin against each other
and make every small matrix product several times slower; pass 0 to leave OpenBLAS alone.
The warm-up's objects (model, caches) are frozen out of the garbage collector's full passes
(``gc.freeze()``, as a long-running worker would after start-up); ``--no-gc-freeze`` skips it.
As the ``replay`` command does, the replay then runs its full collections itself
(``--gc-full-every-s``, 600; 0: CPython's heuristic, :mod:`streams.gc_schedule`).
The events file is read and validated a batch ahead in a second process, as the ``replay``
command does on a machine with two cores or more (``--no-parse-ahead``: in line); that
process starts with the warm-up and reads nothing before the clock runs.

Ends by printing one JSON line: ``{"events_per_s": …, "parse_only_events_per_s": …, "ratio": …}``
(plus the context: events, users, items, emit, batch size, run conditions).
"""

from __future__ import annotations

import argparse
import gc
import io
import itertools
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from encoders.protocol import TextEncoder

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


def _blas_threads(argv: list[str]) -> int:
    """``--blas-threads`` read before numpy is imported (it only reads the variable at load)."""
    for i, arg in enumerate(argv):
        if arg.startswith("--blas-threads="):
            return int(arg.split("=", 1)[1])
        if arg == "--blas-threads" and i + 1 < len(argv):
            return int(argv[i + 1])
    return 1


BLAS_THREADS = _blas_threads(sys.argv[1:])
if BLAS_THREADS > 0:
    os.environ["OPENBLAS_NUM_THREADS"] = str(BLAS_THREADS)


def _parse_only(path: Path) -> tuple[int, float]:
    start = time.perf_counter()
    n = 0
    with path.open("rb") as f:
        for line in f:
            if line.strip():
                json.loads(line)
                n += 1
    return n, time.perf_counter() - start


def _dataset(users: int, items: int, seed: int, out: Path) -> tuple[Path, Path]:
    from streams.datasets import GeneratorParams, generate, write_dataset

    write_dataset(generate(GeneratorParams(users=users, items=items, seed=seed)), out)
    return out / "items.jsonl", out / "events.jsonl"


def _head(path: Path, lines: int, out: Path) -> Path:
    """The first ``lines`` non-blank lines of ``path`` as a file of their own."""
    with path.open("rb") as src, out.open("wb") as dst:
        dst.writelines(itertools.islice((ln for ln in src if ln.strip()), lines))
    return out


def _args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--items", type=Path, help="items JSONL (default: generate)")
    ap.add_argument("--events", type=Path, help="events JSONL (default: generate)")
    ap.add_argument("--users", type=int, default=5000)
    ap.add_argument("--n-items", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--emit", choices=["final", "updates"], default="final")
    ap.add_argument("--batch-size", type=int, default=32_768)
    ap.add_argument("--limit", type=int, default=0, help="replay only the first N event lines")
    ap.add_argument("--engine-config", type=Path, help="EngineParams file (JSON or TOML)")
    ap.add_argument("--cache-dir", type=Path, help="persistent embedding cache (RocksDB)")
    ap.add_argument("--blas-threads", type=int, default=1, help="OpenBLAS threads; 0: default")
    ap.add_argument("--no-gc-freeze", action="store_true", help="do not gc.freeze() the warm-up")
    ap.add_argument(
        "--gc-full-every-s",
        type=float,
        default=600.0,
        help="full garbage collections between batches, as the replay command runs them "
        "(default 600 s; 0: CPython's own schedule)",
    )
    ap.add_argument(
        "--no-parse-ahead", action="store_true", help="parse in line (no second process)"
    )
    ap.add_argument(
        "--repeat",
        type=int,
        default=5,
        help="timed replays (fresh engine each); events_per_s is their median",
    )
    ap.add_argument(
        "--jobs",
        type=int,
        default=min(os.cpu_count() or 1, 8),
        help="processes for the final recommendations (--emit final)",
    )
    return ap.parse_args()


def _warm_encoder(items: Path, events: Path, cache_dir: Path | None) -> TextEncoder:
    """The real encoder behind an in-memory cache holding every item and event text."""
    from encoders.cache import CachedEncoder, MemoryEmbeddingCache, cache_key
    from encoders.factory import build_encoder
    from encoders.settings import EncoderSettings
    from streams.core.contract import EventParser, ItemParser
    from streams.core.events import Event, Item
    from streams.core.items import item_text
    from streams.core.params import EngineParams
    from streams.datasets.files import read_messages

    params = EngineParams()
    parse = EventParser(params.limits, frozenset(params.event_types))
    parse_item = ItemParser(params.limits)
    texts: set[str] = {
        item_text(it)
        for m in read_messages(items)
        if isinstance(it := parse_item(m), Item) and not it.deleted
    }
    for m in read_messages(events):
        if isinstance(e := parse(m), Event):
            if e.text:
                texts.add(e.text)
            if e.item is not None:
                texts.add(item_text(e.item))
    ordered = sorted(texts)
    if cache_dir is not None:
        warm = build_encoder(EncoderSettings(cache_dir=cache_dir))
        assert isinstance(warm, CachedEncoder)
        inner = warm.inner
    else:
        inner = warm = build_encoder(EncoderSettings(cache_max_items=0))
    vectors = warm.encode(ordered)  # the only model work: every text, once
    if isinstance(warm, CachedEncoder):
        warm.close()  # the persistent cache: flushed and closed before the clock runs
    memory = MemoryEmbeddingCache(max(1_000_000, len(ordered)))
    memory.put_many([cache_key(inner.model_id, t) for t in ordered], vectors)
    return CachedEncoder(inner, memory)


def _replay_once(
    args: argparse.Namespace, items_path: Path, events_path: Path, encoder: TextEncoder
) -> tuple[float, int, int, int, float]:
    """One timed replay through a fresh engine: ``(events/s, events, users, items, s)``."""
    from streams.commands.replay import Emit, run_replay
    from streams.core.config import load_params
    from streams.core.engine import Engine
    from streams.datasets.files import read_messages
    from streams.datasets.parse_ahead import ParsedBatches
    from streams.gc_schedule import FullCollections

    params = load_params(args.engine_config)
    events = (
        read_messages(events_path)
        if args.no_parse_ahead
        else ParsedBatches(events_path, params, args.batch_size)
    )
    engine = Engine(params, encoder)
    if isinstance(events, ParsedBatches) and not events.wait_ready():
        raise SystemExit("the parse-ahead process did not start")
    gc.collect()
    if not args.no_gc_freeze:
        gc.freeze()
    collections = FullCollections(args.gc_full_every_s) if args.gc_full_every_s else None
    stats = run_replay(
        engine,
        read_messages(items_path),
        events,
        io.BytesIO(),
        emit=Emit(args.emit),
        batch_size=args.batch_size,
        now_ms=None,
        jobs=args.jobs,
        collections=collections,
    )
    if collections is not None:
        collections.release()
    if isinstance(events, ParsedBatches):
        events.close()
    if not args.no_gc_freeze:
        gc.unfreeze()
    users = len(list(engine.users.user_ids()))
    return stats.events_per_s, stats.lines, users, len(engine.catalog), stats.seconds


def main() -> None:
    """Run the benchmark and print its JSON line."""
    args = _args()
    with tempfile.TemporaryDirectory() as tmp:
        if args.items is not None and args.events is not None:
            items_path, events_path = args.items, args.events
        else:
            items_path, events_path = _dataset(args.users, args.n_items, args.seed, Path(tmp))
        if args.limit:
            events_path = _head(events_path, args.limit, Path(tmp) / "head.jsonl")
        encoder = _warm_encoder(items_path, events_path, args.cache_dir)
        lines, parse_s = 0, 0.0
        runs = []
        for _ in range(args.repeat):  # parse-only and replay alternate: same conditions
            n, s = _parse_only(events_path)
            lines, parse_s = lines + n, parse_s + s
            runs.append(_replay_once(args, items_path, events_path, encoder))
        n, s = _parse_only(events_path)
        lines, parse_s = lines + n, parse_s + s
    parse_eps = lines / parse_s
    eps = [r[0] for r in runs]
    median = statistics.median(eps)
    _, events, users, items, _ = runs[0]
    figures = {
        "events_per_s": round(median, 1),
        "parse_only_events_per_s": round(parse_eps, 1),
        "ratio": round(median / parse_eps, 4),
        "runs_events_per_s": [round(e, 1) for e in eps],
        "events": events,
        "users": users,
        "items": items,
        "emit": args.emit,
        "batch_size": args.batch_size,
        "seconds": [round(r[4], 3) for r in runs],
        "blas_threads": BLAS_THREADS or "default",
        "gc_freeze": not args.no_gc_freeze,
        "gc_full_every_s": args.gc_full_every_s,
        "parse_ahead": not args.no_parse_ahead,
        "final_jobs": args.jobs,
    }
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
