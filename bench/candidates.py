"""The candidate budget: what the served lists gain and what recommending costs, per budget.

A touched user's recommendation scores the union of its candidates: the
``recommend.semantic_candidates`` items nearest to its interest vector (from the item index
above ``index_min_items``), its co-visitation neighbours, the ``category_candidates`` most
popular items of its two strongest categories and the ``trending_candidates`` most popular
overall. Recommending is most of the engine's work per touched user, and the candidates
are most of that; this measures, side by side in one run, on one trained state:

* the quality of the lists the product publishes: ``evaluate``'s ``served`` method (the
  held-out item's position in the user's list; :mod:`streams.evaluation`), HR@K and NDCG@K
  over the evaluated users, and for reference the ``engine`` method (the same blend over the
  whole catalog, no candidates, no diversity) on the first ``--reference-users`` of them;
* what diversity the lists keep: ``leaves``, the mean number of distinct leaf categories
  among a list's first K items (``--diversity``: the rule, ``category_cap`` by default; with
  ``none`` the served lists are the whole-catalog ranking's top K wherever the candidates
  hold it);
* the cost: ``Engine.recommend`` over the evaluated users in groups of ``--group`` (the
  engine's per-call group), CPU µs per user, the best of ``--repeat`` passes.

Budgets are ``semantic:category:trending[:rerank]`` (``--budgets``; ``rerank`` is
``recommend.index_rerank``, the default's when left out), by default ``100:50:50:4`` (the
defaults until 2026-12-03), ``50:25:25:8``, ``25:25:25:4`` and ``25:25:25:8`` (the defaults
since). Training is the
evaluation's (:func:`streams.evaluation.training.train`: the events file in batches, the
held-out events left out) on warm item vectors (the embedding cache of ``bench/replay.py``),
over the dataset ``bench/pipeline.py`` generates (100k items, 20k users).

Ends by printing one JSON line: ``{"budgets": [{"budget": …, "hr": …, "ndcg": …, "leaves":
…, "short_lists": …, "us_per_user": …, "cost_ratio": …, "hr_ratio": …}, …], "reference": {…},
…}``; the ratios are against the first budget. The lists are ``--k`` long (``recommend.k``).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT.parent))
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402 - after the thread caps above
import numpy.typing as npt  # noqa: E402

from streams.core.contract import EventParser  # noqa: E402
from streams.core.engine import Engine  # noqa: E402
from streams.core.events import Event  # noqa: E402
from streams.core.params import EngineParams  # noqa: E402
from streams.datasets.files import read_messages  # noqa: E402
from streams.evaluation.metrics import hit_rate, ndcg  # noqa: E402
from streams.evaluation.ranking import full_rank  # noqa: E402
from streams.evaluation.runner import excluded_rows, served_scores  # noqa: E402
from streams.evaluation.split import holdout_split  # noqa: E402
from streams.evaluation.training import TrainStats, load_items, train  # noqa: E402

if TYPE_CHECKING:
    from encoders.protocol import TextEncoder

from bench_data import CACHE, pipeline_dataset  # noqa: E402


@dataclass
class Trained:
    """The trained state and the held-out users it is measured on."""

    engine: Engine
    users: list[str]
    target: npt.NDArray[np.int64]
    train_events: int
    train_s: float
    short: float = 0.0
    """The share of served lists shorter than K in the last :meth:`quality`."""

    def sharing(self, params: EngineParams) -> Engine:
        """An engine with ``params`` over the trained users, catalog and signals."""
        e = self.engine
        return Engine(params, e.encoder, users=e.users, catalog=e.catalog, signals=e.signals)

    def quality(
        self, engine: Engine, n: int, k: int, group: int, full: bool
    ) -> tuple[float, float, float]:
        """``(HR@k, NDCG@k, leaves)`` over the first ``n`` users: the served lists, or
        (``full``) the whole-catalog scores, ranked as ``evaluate`` ranks them; ``leaves``:
        the mean number of distinct leaf categories among a served list's first ``k`` items
        (0 for ``full``)."""
        greater, ties, leaves, short = [], [], [], []
        catalog = engine.catalog
        for c0 in range(0, n, group):
            chunk = self.users[c0 : min(n, c0 + group)]
            scores = engine.score_users(chunk)[1] if full else served_scores(engine, chunk)
            if not full:
                for row in scores:
                    listed = np.flatnonzero(row)
                    top = listed[np.argsort(-row[listed], kind="stable")[:k]]
                    leaves.append(len(np.unique(catalog.leaf(top))))
                    short.append(len(listed) < k)
            excluded = excluded_rows(engine, chunk)
            t = self.target[c0 : c0 + len(chunk)]
            excluded[np.arange(len(chunk)), t] = False
            g, ti = full_rank(scores, t, excluded)
            greater.append(g)
            ties.append(ti)
        g, ti = np.concatenate(greater), np.concatenate(ties)
        hr, nd = float(hit_rate(g, ti, k).mean()), float(ndcg(g, ti, k).mean())
        self.short = float(np.mean(short)) if short else 0.0
        return hr, nd, float(np.mean(leaves)) if leaves else 0.0

    def cost(self, engine: Engine, group: int, repeat: int) -> float:
        """CPU µs per user of ``engine.recommend`` over all users in groups (best pass)."""
        best = float("inf")
        for _ in range(repeat):
            started = time.process_time()
            for c0 in range(0, len(self.users), group):
                engine.recommend(self.users[c0 : c0 + group])
            best = min(best, time.process_time() - started)
        return best / len(self.users) * 1e6


def _train(data: Path, encoder: TextEncoder) -> Trained:
    """Train as ``evaluate`` does (held-out events left out) with the default parameters."""
    params = EngineParams()
    engine = Engine(params, encoder)
    stats = TrainStats()
    load_items(engine, list(read_messages(data / "items.jsonl")), stats, 5000)
    events = list(read_messages(data / "events.jsonl"))
    parse = EventParser(params.limits, frozenset(params.event_types))
    split = holdout_split([e if isinstance(e, Event) else None for e in map(parse, events)])
    started = time.perf_counter()
    train(engine, [m for m, keep in zip(events, split.train.tolist(), strict=True) if keep], stats)
    train_s = time.perf_counter() - started
    index, ok = engine.catalog.index, engine.catalog.recommendable()
    held = [h for h in split.held_out if (r := index.get(h.item_id)) is not None and ok[r]]
    target = np.array([index[h.item_id] for h in held], dtype=np.int64)
    return Trained(engine, [h.user_id for h in held], target, int(split.train.sum()), train_s)


def _budget(text: str) -> tuple[int, int, int, float]:
    """``semantic:category:trending[:rerank]`` (rerank: the default's when left out)."""
    parts = text.split(":")
    rerank = float(parts[3]) if len(parts) > 3 else EngineParams().recommend.index_rerank
    return int(parts[0]), int(parts[1]), int(parts[2]), rerank


def main() -> None:
    from replay import _warm_encoder

    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--items", type=int, default=100_000)
    ap.add_argument("--users", type=int, default=20_000)
    ap.add_argument("--events-per-user", type=float, default=7)
    ap.add_argument("--budgets", default="100:50:50:4,50:25:25:8,25:25:25:4,25:25:25:8")
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--group", type=int, default=256, help="users per recommend call")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--reference-users", type=int, default=2000, help="at least 1")
    ap.add_argument(
        "--diversity",
        default=EngineParams().recommend.diversity,
        choices=["category_cap", "mmr", "none"],
        help="recommend.diversity of the served lists (default: the engine's default)",
    )
    args = ap.parse_args()
    budgets = [_budget(b) for b in args.budgets.split(",")]
    data = pipeline_dataset(args.items, args.users, args.events_per_user)
    encoder = _warm_encoder(data / "items.jsonl", data / "events.jsonl", CACHE / "bench-embeddings")
    trained = _train(data, encoder)
    base = trained.engine.params
    rows: list[dict[str, float | str]] = []
    first: Engine | None = None
    for sem, cat, trend, rerank in budgets:
        rp = dataclasses.replace(
            base.recommend,
            k=args.k,
            diversity=args.diversity,
            semantic_candidates=sem,
            category_candidates=cat,
            trending_candidates=trend,
            index_rerank=rerank,
        )
        engine = trained.sharing(dataclasses.replace(base, recommend=rp))
        first = first or engine
        engine.prepare_recommend()  # the item index: built once, not timed
        hr, nd, leaves = trained.quality(engine, len(trained.users), args.k, args.group, False)
        us = trained.cost(engine, args.group, args.repeat)
        rows.append(
            {
                "budget": f"{sem}:{cat}:{trend}:{rerank:g}",
                "hr": hr,
                "ndcg": nd,
                "leaves": round(leaves, 2),
                "short_lists": trained.short,
                "us_per_user": us,
            }
        )
        print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    assert first is not None
    top = rows[0]
    for r in rows:
        r["cost_ratio"] = round(float(r["us_per_user"]) / float(top["us_per_user"]), 3)
        r["hr_ratio"] = round(float(r["hr"]) / max(float(top["hr"]), 1e-12), 3)
        r["hr"], r["ndcg"] = round(float(r["hr"]), 4), round(float(r["ndcg"]), 4)
        r["us_per_user"] = round(float(r["us_per_user"]), 1)
    n_ref = max(1, min(args.reference_users, len(trained.users)))
    served = trained.quality(first, n_ref, args.k, args.group, full=False)
    full = trained.quality(trained.engine, n_ref, args.k, args.group, full=True)
    reference = {"users": n_ref, "budget": top["budget"]}
    reference |= {"served_hr": round(served[0], 4), "served_ndcg": round(served[1], 4)}
    reference |= {"served_leaves": round(served[2], 2)}
    reference |= {"engine_full_hr": round(full[0], 4), "engine_full_ndcg": round(full[1], 4)}
    print(
        json.dumps(
            {
                "budgets": rows,
                "reference": reference,
                "evaluated": len(trained.users),
                "k": args.k,
                "group": args.group,
                "diversity": args.diversity,
                "train_events": trained.train_events,
                "train_s": round(trained.train_s, 1),
                "items": args.items,
            }
        )
    )


if __name__ == "__main__":
    main()
