"""The event funnel: every visit becomes a view and, by affinity, more typed events.

Per visit (affinity ``a``): a ``view`` at the visit time, ``value`` = dwell seconds
(log-normal, median ``8 + 40·a`` s); a ``click`` with probability ``0.05 + 0.45·a`` at the end
of the dwell, else a ``dislike`` with probability ``0.12·(1 - a)²``; after a click an
``add_to_cart`` (0.35), after that a ``purchase`` (0.6), after that a ``rating`` (0.5) with
``value`` = ``clip(round(1 + 4·a + N(0, 0.7)), 1, 5)``. Later steps come seconds to minutes
later. The result is sorted by event time (ties: visit, then funnel step), which is the order
event ids are assigned in.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from streams.datasets.sampling import IntArray

__all__ = [
    "CART",
    "CLICK",
    "DISLIKE",
    "EVENT_TYPES",
    "PURCHASE",
    "RATING",
    "VIEW",
    "EventTable",
    "expand_funnel",
]

EVENT_TYPES = ("view", "click", "add_to_cart", "purchase", "rating", "dislike")
VIEW, CLICK, CART, PURCHASE, RATING, DISLIKE = range(6)
FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class EventTable:
    """Events in event-time order: source visit, type code, ts (ms), value (NaN: none)."""

    visit: IntArray
    type: IntArray
    ts: IntArray
    value: FloatArray

    @property
    def size(self) -> int:
        """Number of events."""
        return int(self.visit.size)


def expand_funnel(visit_ts: IntArray, affinity: FloatArray, rng: np.random.Generator) -> EventTable:
    """Expand visits into events (see the module docstring)."""
    n = visit_ts.size
    idx = np.arange(n)
    dwell_ms = np.maximum(500.0, rng.lognormal(np.log(8000.0 + 40000.0 * affinity), 0.6))
    clicked = rng.random(n) < 0.05 + 0.45 * affinity
    disliked = ~clicked & (rng.random(n) < 0.12 * (1.0 - affinity) ** 2)
    carted = clicked & (rng.random(n) < 0.35)
    bought = carted & (rng.random(n) < 0.6)
    rated = bought & (rng.random(n) < 0.5)
    t_click = visit_ts + dwell_ms.astype(np.int64)
    t_cart = t_click + 1000 + rng.exponential(15_000.0, n).astype(np.int64)
    t_buy = t_cart + 1000 + rng.exponential(60_000.0, n).astype(np.int64)
    t_rate = t_buy + 1000 + rng.exponential(300_000.0, n).astype(np.int64)
    stars = np.clip(np.rint(1.0 + 4.0 * affinity + rng.normal(0.0, 0.7, n)), 1, 5)
    nan = np.full(n, np.nan)
    parts = [
        (idx, VIEW, visit_ts, np.round(dwell_ms / 1000.0, 1)),
        (idx[clicked], CLICK, t_click[clicked], nan[clicked]),
        (idx[disliked], DISLIKE, t_click[disliked], nan[disliked]),
        (idx[carted], CART, t_cart[carted], nan[carted]),
        (idx[bought], PURCHASE, t_buy[bought], nan[bought]),
        (idx[rated], RATING, t_rate[rated], stars[rated]),
    ]
    visit = np.concatenate([p[0] for p in parts])
    etype = np.concatenate([np.full(p[0].size, p[1], dtype=np.int64) for p in parts])
    ts = np.concatenate([p[2] for p in parts]).astype(np.int64)
    value = np.concatenate([p[3] for p in parts])
    order = np.lexsort((etype, visit, ts))
    return EventTable(visit=visit[order], type=etype[order], ts=ts[order], value=value[order])
