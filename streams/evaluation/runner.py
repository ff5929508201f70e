"""The evaluation run: hold out, train once, score the engine and its baselines side by side.

1. The items are loaded and the events split (:mod:`streams.evaluation.split`: each user's
   last positive event by event time is held out, with the user's later events and every
   event on the held-out item).
2. One engine is trained on the training lines in file order (:mod:`~.training`).
3. Every method (:mod:`~.methods`) is the same trained state — the engine's user store,
   catalog and signals shared by an ``Engine`` with other weights — scored with
   ``Engine.score_users`` (the full-catalog scores of ``score_items``, a chunk of users at a
   time). Items the product would not recommend to the user are excluded from the ranking:
   what ``Recommender.view`` excludes (consumed, disliked) and what the catalog cannot
   recommend (deleted). The held-out item is never excluded. ``served`` is scored from the
   lists ``Engine.recommend`` publishes instead (:func:`served_scores`; lists of
   ``max(recommend.k, K)`` items; no sampled metrics).
4. Ranks are counted vectorised (:mod:`~.ranking`): full catalog, and against ``negatives``
   uniformly sampled allowed items per user — drawn once per user from ``seed``, the same for
   every method. Metrics (:mod:`~.metrics`) are averaged over users.

Users whose held-out item the catalog cannot rank (unknown or deleted) are skipped. With
``drift_truth``, the drift alerts raised while training are scored against the planted
switches (:mod:`~.drift`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from streams.core.contract import EventParser
from streams.core.engine import Engine
from streams.core.events import Event
from streams.core.messages import Message
from streams.core.recommender import Recommender
from streams.evaluation.drift import SwitchTruth, drift_detection
from streams.evaluation.methods import METHODS, SERVED, method_weights
from streams.evaluation.metrics import hit_rate, ndcg
from streams.evaluation.ranking import full_rank, sample_negatives, sampled_rank
from streams.evaluation.report import EvalReport, MethodScores
from streams.evaluation.split import HeldOut, holdout_split
from streams.evaluation.training import Progress, TrainStats, load_items, train

__all__ = ["EvalConfig", "excluded_rows", "run_evaluation", "served_scores"]

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class EvalConfig:
    """The protocol's knobs."""

    k: int = 10
    negatives: int = 100
    seed: int = 0
    batch_size: int = 8192
    item_batch_size: int = 512
    min_train: int = 3
    score_chunk: int = 128
    methods: tuple[str, ...] = METHODS

    def __post_init__(self) -> None:
        if self.k < 1 or self.negatives < 1 or self.min_train < 1 or self.score_chunk < 1:
            raise ValueError("k, negatives, min_train and score_chunk must be >= 1")
        if not self.methods:
            raise ValueError("at least one method")


def run_evaluation(
    engine: Engine,
    items: Sequence[Message],
    events: Sequence[Message],
    *,
    config: EvalConfig = EvalConfig(),
    progress: Progress | None = None,
    drift_truth: Sequence[SwitchTruth] | None = None,
) -> EvalReport:
    """Evaluate ``engine`` (fresh: no state yet) on an items and an events file's lines."""
    for m in config.methods:
        method_weights(m, engine.params.weights)  # fail on an unknown method before any work
    stats = TrainStats()
    load_items(engine, items, stats, config.item_batch_size, progress)
    params = engine.params
    parse = EventParser(params.limits, frozenset(params.event_types))
    parsed = [e if isinstance(e, Event) else None for e in map(parse, events)]
    split = holdout_split(parsed, min_train=config.min_train)
    train_lines = [m for m, keep in zip(events, split.train.tolist(), strict=True) if keep]
    train(engine, train_lines, stats, config.batch_size, progress)

    ok = engine.catalog.recommendable()
    index = engine.catalog.index
    held = [h for h in split.held_out if (r := index.get(h.item_id)) is not None and ok[r]]
    ranks = _rank_all(engine, held, config, progress)
    scores = tuple(
        MethodScores(
            method=m,
            users=len(held),
            hr_full=_mean(hit_rate(g, t, config.k)),
            ndcg_full=_mean(ndcg(g, t, config.k)),
            # a list ranks only its own items: against sampled negatives an unlisted held-out
            # item would tie with nearly all of them, a coin toss rather than a measure
            hr_sampled=None if m == SERVED else _mean(hit_rate(gs, ts, config.k)),
            ndcg_sampled=None if m == SERVED else _mean(ndcg(gs, ts, config.k)),
        )
        for m, (g, t, gs, ts) in ranks.items()
    )
    users = {e.user_id for e in parsed if e is not None}
    return EvalReport(
        k=config.k,
        negatives=config.negatives,
        seed=config.seed,
        items=int(ok.sum()),
        lines=len(events),
        train_lines=len(train_lines),
        rejected=stats.rejected,
        items_rejected=stats.item_rejections,
        duplicates=stats.duplicates,
        users=len(users),
        evaluated=len(held),
        skipped=split.skipped_users + len(split.held_out) - len(held),
        methods=scores,
        drift=None
        if drift_truth is None
        else drift_detection(drift_truth, [(a.user_id, a.ts) for a in stats.alerts], users),
    )


def _mean(x: npt.NDArray[np.float64]) -> float | None:
    """The mean over the evaluated users; ``None`` without any (not a score of 0)."""
    return float(x.mean()) if x.size else None


def served_scores(engine: Engine, users: Sequence[str]) -> F64:
    """``(len(users), rows)``: each user's published list as scores (``L − position`` on its
    ``L`` items, 0 elsewhere).

    Ranked like any method's scores, a listed item is at its position and an unlisted one
    ties with every other unlisted item behind the list (the tie-fair metrics give it the
    expectation of a random order there): HR@K for ``K`` up to the list's length is the
    share of users whose list holds the held-out item in its first ``K``.
    """
    index = engine.catalog.index
    out = np.zeros((len(users), len(engine.catalog)))
    for u, rec in enumerate(engine.recommend(users)):
        rows = [index[it.item_id] for it in rec.items]
        out[u, rows] = np.arange(len(rows), 0, -1, dtype=np.float64)
    return out


def excluded_rows(engine: Engine, users: Sequence[str]) -> npt.NDArray[np.bool_]:
    """``(len(users), rows)``: what the product would not recommend to each user (what
    ``Recommender.view`` excludes: consumed, disliked; and what the catalog cannot
    recommend: deleted)."""
    recommender = Recommender(engine.params, engine.catalog, engine.signals)
    ok = engine.catalog.recommendable()
    out = np.broadcast_to(~ok, (len(users), ok.size)).copy()
    for u, user in enumerate(users):
        state = engine.users.get(user)
        if state is not None:
            out[u, recommender.view(state).excluded] = True
    return out


def _rank_all(
    engine: Engine, held: Sequence[HeldOut], config: EvalConfig, progress: Progress | None
) -> dict[str, tuple[I64, I64, I64, I64]]:
    """Per method: (greater, ties) full-catalog and (greater, ties) sampled, per user."""
    rp = engine.params.recommend
    served = dataclasses.replace(rp, k=max(rp.k, config.k))  # lists at least K long
    engines = {
        m: Engine(
            dataclasses.replace(
                engine.params,
                weights=method_weights(m, engine.params.weights),
                recommend=served if m == SERVED else rp,
            ),
            engine.encoder,
            users=engine.users,
            catalog=engine.catalog,
            signals=engine.signals,
        )
        for m in config.methods
    }
    rng = np.random.default_rng(config.seed)
    parts: dict[str, list[tuple[I64, I64, I64, I64]]] = {m: [] for m in config.methods}
    index = engine.catalog.index
    total = len(held) * len(engines)
    for c0 in range(0, len(held), config.score_chunk):
        chunk = held[c0 : c0 + config.score_chunk]
        users = [h.user_id for h in chunk]
        target = np.array([index[h.item_id] for h in chunk], dtype=np.int64)
        excluded = excluded_rows(engine, users)
        excluded[np.arange(len(chunk)), target] = False
        negatives = sample_negatives(excluded, target, config.negatives, rng)
        for n, (m, eng) in enumerate(engines.items()):
            scores = served_scores(eng, users) if m == SERVED else eng.score_users(users)[1]
            parts[m].append(
                (*full_rank(scores, target, excluded), *sampled_rank(scores, target, negatives))
            )
            if progress is not None:
                progress("score", c0 * len(engines) + (n + 1) * len(chunk), total)
    empty = np.zeros(0, dtype=np.int64)
    return {
        m: (
            tuple(np.concatenate([p[i] for p in ps]) for i in range(4))  # type: ignore[misc]
            if ps
            else (empty, empty, empty, empty)
        )
        for m, ps in parts.items()
    }
