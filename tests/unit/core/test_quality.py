"""Quality on generated data, with the real encoder: HR@10 against single-signal baselines,
and drift alerts against the planted interest switches.

One dataset (the generator's defaults, fewer users and items) is replayed once for the drift
figures (the whole stream) and once for HR@10 (each user's last positive event held out, the
evaluation's own split and full-catalog ranking). Figures are printed (``pytest -s``).
"""

from __future__ import annotations

import bisect
import dataclasses
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from encoders.cache import CachedEncoder, MemoryEmbeddingCache
from encoders.factory import build_encoder
from encoders.protocol import TextEncoder
from encoders.settings import EncoderSettings
from streams.core.contract import EventParser
from streams.core.engine import Engine
from streams.core.events import Event
from streams.core.messages import Message
from streams.core.outputs import DriftAlert
from streams.core.params import EngineParams, Weights
from streams.datasets import GeneratorParams, generate
from streams.datasets.records import drift_truth, event_records, item_records
from streams.evaluation.metrics import hit_rate
from streams.evaluation.ranking import full_rank
from streams.evaluation.split import holdout_split

pytestmark = pytest.mark.slow

BATCH = 4096
BASELINES = {
    "covis": Weights(1.0, 0.0, 0.0, 0.0),
    "semantic": Weights(0.0, 1.0, 0.0, 0.0),
    "category": Weights(0.0, 0.0, 1.0, 0.0),
    "trending": Weights(0.0, 0.0, 0.0, 1.0),
}


@dataclass(frozen=True, slots=True)
class Data:
    items: list[Message]
    events: list[Message]
    parsed: list[Event | None]
    truth: dict[str, int]


@pytest.fixture(scope="module")
def encoder() -> TextEncoder:
    """The real encoder behind a cache: persistent when ``IT_ENCODER_CACHE_DIR`` is set (so
    repeated runs do not re-encode), else in memory (every text encoded once per module)."""
    settings = EncoderSettings()
    if settings.cache_dir is not None:
        return build_encoder(settings)
    real = build_encoder(EncoderSettings(cache_max_items=0))
    return CachedEncoder(real, MemoryEmbeddingCache(100_000))


@pytest.fixture(scope="module")
def data() -> Data:
    ds = generate(GeneratorParams(users=800, items=800, seed=7))
    items = [Message(json.dumps(r).encode()) for r in item_records(ds)]
    events = [Message(json.dumps(r).encode(), topic="events") for r in event_records(ds)]
    p = EngineParams()
    parse = EventParser(p.limits, frozenset(p.event_types))
    parsed = [e if isinstance(e := parse(m), Event) else None for m in events]
    truth = {d["user_id"]: int(d["switch_index"]) for d in drift_truth(ds)}
    return Data(items, events, parsed, truth)


def _replay(
    params: EngineParams, enc: TextEncoder, data: Data, events: Sequence[Message]
) -> tuple[Engine, list[DriftAlert]]:
    eng = Engine(params, enc)
    eng.apply_items(data.items)
    alerts: list[DriftAlert] = []
    for c0 in range(0, len(events), BATCH):
        alerts += eng.process(events[c0 : c0 + BATCH], recommend=False).alerts
    return eng, alerts


def test_engine_beats_every_single_signal_baseline(encoder: TextEncoder, data: Data) -> None:
    split = holdout_split(data.parsed)
    train = [m for m, keep in zip(data.events, split.train, strict=True) if keep]
    params = EngineParams()
    eng, _ = _replay(params, encoder, data, train)
    users = [h.user_id for h in split.held_out]
    hr: dict[str, float] = {}
    for name, weights in {"engine": params.weights, **BASELINES}.items():
        scorer = Engine(
            dataclasses.replace(params, weights=weights),
            encoder,
            users=eng.users,
            catalog=eng.catalog,
            signals=eng.signals,
        )
        ids, scores = scorer.score_users(users)
        col = {item: j for j, item in enumerate(ids)}
        target = np.array([col[h.item_id] for h in split.held_out])
        excluded = np.zeros(scores.shape, bool)
        for r, h in enumerate(split.held_out):
            excluded[r, [col[i] for i in h.train_items if i in col]] = True
        excluded[np.arange(len(users)), target] = False
        greater, ties = full_rank(scores, target, excluded)
        hr[name] = float(hit_rate(greater, ties, 10).mean())
    print("\nHR@10 (full catalog):", {k: round(v, 4) for k, v in hr.items()}, f"users={len(users)}")
    for name in BASELINES:
        assert hr["engine"] > hr[name], (name, hr)


def _drift_figures(data: Data, alerts: Sequence[DriftAlert]) -> tuple[float, float, float]:
    """``(recall, median delay, false-alarm users)`` against the planted switches.

    An alert's position is its event's index among the user's events in event-time order
    (``drift_truth``'s convention). Recall: switched users whose first alert at or after the
    switch comes within ``WITHIN`` events of it; delay: events from the switch to that alert;
    false alarms: users alerted though they never switched, or alerted before their switch,
    over all users.
    """
    times: dict[str, dict[str, int]] = {}
    for e in data.parsed:
        if e is not None:
            times.setdefault(e.user_id, {})[e.event_id] = e.ts
    order = {u: sorted(ts.values()) for u, ts in times.items()}
    first: dict[str, int] = {}
    false_alarm: set[str] = set()
    for a in sorted(alerts, key=lambda a: (a.user_id, a.ts)):
        index = bisect.bisect_right(order[a.user_id], a.ts) - 1  # the alert's event, in ts order
        switch = data.truth.get(a.user_id)
        if a.user_id in first or a.user_id in false_alarm:
            continue
        if switch is None or index < switch:
            false_alarm.add(a.user_id)
        else:
            first[a.user_id] = index - switch
    delays = np.array(list(first.values()))
    recall = float((delays <= WITHIN).sum() / len(data.truth))
    median = float(np.median(delays)) if len(delays) else float("inf")
    return recall, median, len(false_alarm) / len(order)


def test_drift_alerts_on_planted_switches(encoder: TextEncoder, data: Data) -> None:
    """The targets: recall >= 0.95 within 15 events, median delay <= 6, false alarms <= 2 %."""
    params = EngineParams()
    _, alerts = _replay(params, encoder, data, data.events)
    recall, median, fa = _drift_figures(data, alerts)
    print(
        f"\ndrift: recall@{WITHIN} {recall:.3f}, median delay {median} events, false-alarm users "
        f"{fa:.3%}, switched users {len(data.truth)}, alerts {len(alerts)}"
    )
    assert all(a.evidence >= params.drift.min_evidence for a in alerts)
    assert len(data.truth) >= 40
    assert recall >= 0.95
    assert median <= 6
    assert fa <= 0.02


WITHIN = 15
