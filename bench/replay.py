"""Replay throughput with warm item vectors, against a loop that only reads and parses.

Generates a synthetic dataset (or takes ``--items``/``--events``), encodes every item and
event text once with the real encoder behind an in-memory cache (so encoding is excluded),
then, side by side in one run on the same file:

* ``events_per_s``: ``streams.commands.replay.run_replay`` through a fresh engine (item
  upserts before the clock starts; ``--emit final`` includes the final recommendations);
* ``parse_only_events_per_s``: a plain Python loop that reads the file and ``json.loads``
  each line.

Ends by printing one JSON line: ``{"events_per_s": …, "parse_only_events_per_s": …, "ratio": …}``
(plus the context: events, users, items, emit, batch size).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


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


def main() -> None:
    """Run the benchmark and print its JSON line."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--items", type=Path, help="items JSONL (default: generate)")
    ap.add_argument("--events", type=Path, help="events JSONL (default: generate)")
    ap.add_argument("--users", type=int, default=5000)
    ap.add_argument("--n-items", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--emit", choices=["final", "updates"], default="final")
    ap.add_argument("--batch-size", type=int, default=16_384)
    args = ap.parse_args()

    from encoders.cache import CachedEncoder, MemoryEmbeddingCache
    from encoders.factory import build_encoder
    from encoders.settings import EncoderSettings
    from streams.commands.replay import Emit, run_replay
    from streams.core.contract import EventParser
    from streams.core.engine import Engine
    from streams.core.events import Event
    from streams.core.items import item_text
    from streams.core.params import EngineParams
    from streams.datasets.files import read_messages

    with tempfile.TemporaryDirectory() as tmp:
        if args.items is not None and args.events is not None:
            items_path, events_path = args.items, args.events
        else:
            items_path, events_path = _dataset(args.users, args.n_items, args.seed, Path(tmp))
        params = EngineParams()
        encoder = CachedEncoder(
            build_encoder(EncoderSettings(cache_max_items=0)), MemoryEmbeddingCache(1_000_000)
        )
        warm = Engine(params, encoder)  # warms the cache with every item and event text
        res = warm.apply_items(list(read_messages(items_path)))
        parse = EventParser(params.limits, frozenset(params.event_types))
        texts = {
            e.text
            for m in read_messages(events_path)
            if isinstance(e := parse(m), Event) and e.text
        } | {
            item_text(e.item)
            for m in read_messages(events_path)
            if isinstance(e := parse(m), Event) and e.item is not None
        }
        encoder.encode(sorted(texts))
        del warm, res

        lines, parse_s = _parse_only(events_path)
        engine = Engine(params, encoder)
        stats = run_replay(
            engine,
            read_messages(items_path),
            read_messages(events_path),
            io.BytesIO(),
            emit=Emit(args.emit),
            batch_size=args.batch_size,
            now_ms=None,
        )
        lines2, parse_s2 = _parse_only(events_path)
    parse_eps = (lines + lines2) / (parse_s + parse_s2)
    figures = {
        "events_per_s": round(stats.events_per_s, 1),
        "parse_only_events_per_s": round(parse_eps, 1),
        "ratio": round(stats.events_per_s / parse_eps, 4),
        "events": stats.lines,
        "users": len(list(engine.users.user_ids())),
        "items": len(engine.catalog),
        "emit": args.emit,
        "batch_size": args.batch_size,
        "seconds": round(stats.seconds, 3),
    }
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
