"""Semantic candidates: exact search against the inverted-file index, side by side.

Encodes a generated catalog with the real encoder (through a persistent embedding cache, so
later runs skip the model), builds queries the way the engine does (θ = a decayed mix of the
vectors of items a user touched: here 2–8 items of one category plus one of another), and
times, on the same queries, :class:`state.item_index.ItemIndex` in exact mode and with the
inverted file (faiss IVF, ``--nprobe``, ``--codes``), reporting the IVF's recall of the
exact top ``k``.

Then the stall a rebuild causes (``--rebuild-seconds``, 0: skip): an index built over all
but the last ``--rebuild-new`` share of the catalog, those rows then added (enough to make a
rebuild due), and back-to-back searches of ``--chunk`` queries for that long, once with the
rebuild in line (the search that finds it due waits) and once in a background thread (the
worker's way), reporting each mode's slowest and 99th-percentile search call and the
searches per second (what the build's thread takes from the searching one).

Ends by printing one JSON line:
``{"exact_us_per_query": …, "ivf_us_per_query": …, "speedup": …, "recall_at_k": …, ...}``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from encoders.factory import build_encoder  # noqa: E402
from encoders.settings import EncoderSettings  # noqa: E402
from state.catalog import Catalog  # noqa: E402
from state.item_index import ItemIndex  # noqa: E402
from streams.core.contract import ItemParser  # noqa: E402
from streams.core.events import Item  # noqa: E402
from streams.core.items import item_text  # noqa: E402
from streams.core.params import EngineParams  # noqa: E402
from streams.datasets.files import read_messages  # noqa: E402
from streams.datasets.params import GeneratorParams  # noqa: E402
from streams.datasets.synthetic import generate_dataset  # noqa: E402

CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "interest-tracker"


def _catalog(items: int, users: int) -> Catalog:
    data = CACHE / f"bench-data-{items}-{users}-10"
    if not (data / "manifest.json").exists():
        generate_dataset(GeneratorParams(users=users, items=items, seed=3), data)
    parse = ItemParser(EngineParams().limits)
    parsed = [it for m in read_messages(data / "items.jsonl") if isinstance(it := parse(m), Item)]
    encoder = build_encoder(EncoderSettings(cache_dir=CACHE / "bench-embeddings"))
    vectors = encoder.encode([item_text(it) for it in parsed])
    cat = Catalog(encoder.dim)
    cat.upsert(
        [it.item_id for it in parsed], [it.category for it in parsed], vectors, [0] * len(parsed)
    )
    return cat


def _queries(cat: Catalog, n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    leaves = cat.leaves()
    mat = cat.matrix()
    out = []
    for _ in range(n):
        anchor = int(rng.integers(len(cat)))
        same = np.flatnonzero(leaves == leaves[anchor])
        picks = rng.choice(same, size=min(len(same), int(rng.integers(2, 9))), replace=False)
        w = 0.8 ** np.arange(len(picks))[::-1]
        v = (w[:, None] * mat[picks]).sum(0) + 0.3 * mat[int(rng.integers(len(cat)))]
        out.append(v / np.linalg.norm(v))
    return np.asarray(out, np.float32)


def _time(index: ItemIndex, q: np.ndarray, k: int, chunk: int) -> tuple[np.ndarray, float]:
    index.search(q[:chunk], k)  # builds the index when it is due (not timed)
    start = time.perf_counter()
    rows = np.concatenate([index.search(q[i : i + chunk], k)[0] for i in range(0, len(q), chunk)])
    return rows, (time.perf_counter() - start) / len(q) * 1e6


def _stalls(
    cat: Catalog, q: np.ndarray, args: argparse.Namespace, background: bool
) -> dict[str, float | None]:
    """Search calls for ``args.rebuild_seconds`` right after a rebuild became due."""
    keep = int(len(cat) * (1 - args.rebuild_new))
    mat = cat.matrix()
    part = Catalog(cat.dim)
    part.upsert(cat.ids[:keep], ["c"] * keep, mat[:keep], [0] * keep)
    index = ItemIndex(part, min_rows=1, nprobe=args.nprobe, codes=args.codes, background=background)
    index.search(q[:1], args.k)  # the first build (not timed)
    rest = len(cat) - keep
    part.upsert(cat.ids[keep:], ["c"] * rest, mat[keep:], [0] * rest)
    calls: list[float] = []
    installed: float | None = None
    start = time.perf_counter()
    i = 0
    while time.perf_counter() - start < args.rebuild_seconds:
        t = time.perf_counter()
        index.search(q[i : i + args.chunk], args.k)
        calls.append(time.perf_counter() - t)
        if installed is None and index.builds == 2:
            installed = time.perf_counter() - start
        i = (i + args.chunk) % max(len(q) - args.chunk, 1)
    ms = np.asarray(calls) * 1e3
    return {
        "max_call_ms": round(float(ms.max()), 1),
        "p99_call_ms": round(float(np.percentile(ms, 99)), 1),
        "median_call_ms": round(float(np.median(ms)), 1),
        "calls_per_s": round(len(calls) / (time.perf_counter() - start), 1),
        "installed_after_s": None if installed is None else round(installed, 2),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--items", type=int, default=5000)
    ap.add_argument("--users", type=int, default=2000, help="of the generated dataset")
    ap.add_argument("--queries", type=int, default=2048)
    defaults = EngineParams().recommend
    ap.add_argument(
        "--k", type=int, default=defaults.semantic_candidates, help="semantic candidates"
    )
    ap.add_argument("--nprobe", type=int, default=defaults.index_nprobe)
    ap.add_argument(
        "--lists", type=float, default=defaults.index_lists_per_sqrt, help="lists per √items"
    )
    ap.add_argument("--codes", choices=["pq4", "fp16"], default=defaults.index_codes)
    ap.add_argument(
        "--rerank", type=float, default=defaults.index_rerank, help="pq4: candidates per k"
    )
    ap.add_argument("--chunk", type=int, default=256, help="queries per search (a user chunk)")
    ap.add_argument(
        "--rebuild-seconds", type=float, default=20.0, help="per rebuild mode (0: skip them)"
    )
    ap.add_argument(
        "--rebuild-new", type=float, default=0.15, help="share of the catalog added at once"
    )
    args = ap.parse_args()
    cat = _catalog(args.items, args.users)
    q = _queries(cat, args.queries, seed=1)
    exact_rows, exact_us = _time(ItemIndex(cat, min_rows=len(cat) + 1), q, args.k, args.chunk)
    ivf = ItemIndex(
        cat, min_rows=1, nprobe=args.nprobe, lists=args.lists, codes=args.codes, rerank=args.rerank
    )
    start = time.perf_counter()
    ivf.search(q[:1], args.k)
    build_s = time.perf_counter() - start
    ivf_rows, ivf_us = _time(ivf, q, args.k, args.chunk)
    recall = np.mean(
        [
            len(set(a.tolist()) & set(b.tolist())) / args.k
            for a, b in zip(ivf_rows, exact_rows, strict=True)
        ]
    )
    top1 = float(np.mean(ivf_rows[:, 0] == exact_rows[:, 0]))
    rebuild = {}
    if args.rebuild_seconds > 0:
        rebuild = {
            "rebuild_inline": _stalls(cat, q, args, background=False),
            "rebuild_background": _stalls(cat, q, args, background=True),
            "rebuild_new": args.rebuild_new,
        }
    print(
        json.dumps(
            {
                "exact_us_per_query": round(exact_us, 1),
                "ivf_us_per_query": round(ivf_us, 1),
                "speedup": round(exact_us / ivf_us, 2),
                "recall_at_k": round(float(recall), 4),
                "top1_agreement": round(top1, 4),
                "build_s": round(build_s, 3),
                "items": len(cat),
                "k": args.k,
                "nprobe": args.nprobe,
                "codes": args.codes,
                "rerank": args.rerank if args.codes == "pq4" else None,
                "lists": ivf.lists,
                "queries": args.queries,
                **rebuild,
            }
        )
    )


if __name__ == "__main__":
    main()
