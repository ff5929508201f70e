"""The users table's RocksDB writes with and without RocksDB's write-ahead log, side by side.

The worker writes one encoded state per touched user per batch into faust's RocksDB store
(:mod:`streams.faust_app.state_store`). This opens databases the way faust does
(``RocksDBOptions``, the rocksdict driver), once as faust leaves them and once without the
log (:func:`~streams.faust_app.state_store.without_wal`), and puts the same values into each,
alternating the two ``--rounds`` times: process CPU (RocksDB's background flushes included)
and wall time per put, the best round of each.

Ends by printing one JSON line: ``{"wal_cpu_us_per_put", "no_wal_cpu_us_per_put",
"cpu_ratio", "wal_wall_us_per_put", "no_wal_wall_us_per_put", ...}``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from faust.stores.rocksdb import RocksDBOptions

from streams.faust_app.state_store import without_wal


def one_round(values: list[bytes], users: int, wal: bool) -> tuple[float, float]:
    """CPU and wall µs per put into a fresh database (closed, so flushed, afterwards)."""
    where = Path(tempfile.mkdtemp(prefix="it-bench-store-"))
    try:
        db = RocksDBOptions(use_rocksdict=True).open(where / "users-0.db")
        if not wal:
            without_wal(db)
        keys = [f"user-{i % users:06d}".encode() for i in range(len(values))]
        c0, t0 = time.process_time(), time.perf_counter()
        for key, value in zip(keys, values, strict=True):
            db.put(key, value)
        c1, t1 = time.process_time(), time.perf_counter()
        db.close()
    finally:
        shutil.rmtree(where, ignore_errors=True)
    n = len(values)
    return (c1 - c0) / n * 1e6, (t1 - t0) / n * 1e6


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--puts", type=int, default=40_000)
    ap.add_argument("--users", type=int, default=20_000)
    ap.add_argument("--value-bytes", type=int, default=7_000, help="a bench user's state")
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    values = [os.urandom(args.value_bytes) for _ in range(min(args.puts, 1000))]
    values = [values[i % len(values)] for i in range(args.puts)]
    best: dict[bool, tuple[float, float]] = {}
    for _ in range(args.rounds):
        for wal in (True, False):
            cpu, wall = one_round(values, args.users, wal)
            prev = best.get(wal)
            best[wal] = (cpu, wall) if prev is None else (min(prev[0], cpu), min(prev[1], wall))
    print(
        json.dumps(
            {
                "wal_cpu_us_per_put": round(best[True][0], 1),
                "no_wal_cpu_us_per_put": round(best[False][0], 1),
                "cpu_ratio": round(best[False][0] / best[True][0], 3),
                "wal_wall_us_per_put": round(best[True][1], 1),
                "no_wal_wall_us_per_put": round(best[False][1], 1),
                "puts": args.puts,
                "users": args.users,
                "value_bytes": args.value_bytes,
                "rounds": args.rounds,
            }
        )
    )


if __name__ == "__main__":
    main()
