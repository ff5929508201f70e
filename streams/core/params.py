"""``EngineParams``: every knob of the engine, as plain frozen dataclasses with documented defaults.

Times are epoch milliseconds and durations milliseconds. Load a file with
:func:`streams.core.config.load_params` (JSON or TOML, the same nesting as here).

>>> p = EngineParams()
>>> p.decay.short_half_life_ms < p.decay.long_half_life_ms
True
>>> p.event_types["purchase"].weight > p.event_types["view"].weight
True
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Literal

from state.item_index import Codes as IndexCodes
from streams.core.errors import ConfigError

__all__ = [
    "MAX_K",
    "CovisParams",
    "DecayParams",
    "DriftParams",
    "EngineParams",
    "IdempotencyParams",
    "LimitParams",
    "RecommendParams",
    "TrendingParams",
    "TypeWeight",
    "Weights",
]

HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS

ValueMode = Literal["none", "linear", "log"]
Diversity = Literal["none", "category_cap", "mmr"]


MAX_K = 1000
"""The longest recommendation list (``recommend.k``)."""


def _check(ok: bool, what: str) -> None:
    if not ok:
        raise ConfigError(what)


@dataclass(frozen=True, slots=True)
class DecayParams:
    """Half-lives of the user's short- and long-term interests (event time)."""

    short_half_life_ms: int = HOUR_MS
    long_half_life_ms: int = 30 * DAY_MS
    rebase_exponent: float = 240.0
    """Stored sums are rebased when an event's growth factor would exceed 2**rebase_exponent.

    Rebasing changes no value but rescales each of the user's category sums, so rarer is
    cheaper; squared sums (norms, dot products) stay below 2**(2·240 + 20), far from
    float64's 2**1023, hence the bound of 300."""

    def __post_init__(self) -> None:
        _check(0 < self.short_half_life_ms <= self.long_half_life_ms, "decay: 0 < short <= long")
        _check(1.0 <= self.rebase_exponent <= 300.0, "decay.rebase_exponent in [1, 300]")


@dataclass(frozen=True, slots=True)
class TypeWeight:
    """How one event type moves interests (``weight``, signed) and collaborative signals.

    ``value`` scaling: ``none`` ignores ``value``; ``linear`` multiplies by
    ``clip((value - center) / scale, -1, 1)`` (ratings); ``log`` by
    ``clip(log1p(value) / log1p(cap), 0, 1)`` (dwell seconds). A negative ``weight`` marks the
    item as disliked (pushed down, excluded). ``collab`` is the weight in co-visitation and
    trending (0: the type is not a collaborative signal).
    """

    weight: float = 1.0
    collab: float = 1.0
    value: ValueMode = "none"
    center: float = 0.0
    scale: float = 1.0
    cap: float = 300.0

    def __post_init__(self) -> None:
        _check(self.collab >= 0.0, "event type collab weight must be >= 0")
        _check(self.scale > 0.0 and self.cap > 0.0, "event type scale and cap must be > 0")
        _check(self.value in ("none", "linear", "log"), f"unknown value mode {self.value!r}")


def _default_types() -> Mapping[str, TypeWeight]:
    return MappingProxyType(
        {
            "view": TypeWeight(weight=0.5, collab=0.5),
            "click": TypeWeight(weight=1.0, collab=1.0),
            "add_to_cart": TypeWeight(weight=2.0, collab=1.5),
            "purchase": TypeWeight(weight=3.0, collab=2.0),
            "rating": TypeWeight(weight=1.0, collab=1.0, value="linear", center=0.0, scale=5.0),
            "dislike": TypeWeight(weight=-1.0, collab=0.0),
        }
    )


@dataclass(frozen=True, slots=True)
class Weights:
    """The scoring blend; a single-signal baseline is the engine with the others at zero."""

    covis: float = 1.0
    semantic: float = 0.3
    category: float = 0.3
    trending: float = 0.15

    def __post_init__(self) -> None:
        values = (self.covis, self.semantic, self.category, self.trending)
        _check(all(v >= 0.0 for v in values) and sum(values) > 0.0, "weights: >= 0, not all 0")


@dataclass(frozen=True, slots=True)
class CovisParams:
    """Online item co-visitation: pairs of a user's events, decayed, top-M per item."""

    window_events: int = 8
    window_ms: int = 7 * DAY_MS
    gap_half_life_ms: int = 6 * HOUR_MS
    half_life_ms: int = 60 * DAY_MS
    max_neighbors: int = 64
    popularity_exponent: float = 0.5
    """Neighbour weights are divided by ``degree(item) ** popularity_exponent`` when scoring."""

    def __post_init__(self) -> None:
        _check(1 <= self.window_events <= 256, "covis.window_events in [1, 256]")
        _check(self.window_ms > 0 and self.gap_half_life_ms > 0, "covis windows must be > 0")
        _check(self.half_life_ms > 0 and 1 <= self.max_neighbors <= 4096, "covis: bad sizes")


@dataclass(frozen=True, slots=True)
class TrendingParams:
    """Decayed popularity of items (the prior, and the cold-start list)."""

    half_life_ms: int = 3 * DAY_MS

    def __post_init__(self) -> None:
        _check(self.half_life_ms > 0, "trending.half_life_ms > 0")


@dataclass(frozen=True, slots=True)
class RecommendParams:
    """Candidates, exclusions, diversification and reasons of a recommendation."""

    k: int = 10
    alpha: float = 0.6
    """θ = alpha · short + (1 − alpha) · long (each normalised first)."""
    recent_items: int = 10
    recent_position_decay: float = 0.85
    semantic_candidates: int = 25
    """Each user's nearest items to θ among the candidates (with ``category_candidates`` and
    ``trending_candidates`` the budget of a list; co-visitation neighbours come on top).
    ``bench/candidates.py`` (2026-12-03, 100k items, category cap): 25/25/25 against
    100/50/50 recommended at 0.61× the CPU per user, with HR@10 of the served lists 1.09×
    and more leaf categories per list; with no diversity rule both lists equal the
    whole-catalog ranking's top 10."""
    index_min_items: int = 20_000
    """From this many recommendable items on, semantic candidates come from an inverted-file
    index (:mod:`state.item_index`, approximate) instead of an exact pass over the catalog."""
    index_nprobe: int = 32
    """Lists of the inverted file scanned per query (more: better recall, slower)."""
    index_codes: IndexCodes = "pq4"
    """What the lists hold: ``pq4`` (4-bit product codes scanned by faiss's fast-scan
    kernels; candidates re-scored exactly) or ``fp16`` (float16 vectors: slower scans, and
    every list scanned equals the exact pass). :mod:`state.item_index`."""
    index_rerank: float = 8.0
    """``pq4``: the codes select ``index_rerank × semantic_candidates`` items per query, which
    are re-scored exactly (more: better recall, more re-scoring). ``bench/item_index.py``
    (100k items, k = 25): recall 0.959 at 4, 0.992 at 8, 0.999 at 16; 154, 192, 273 µs per
    query."""
    index_lists_per_sqrt: float = 2.0
    """The inverted file has this many × √(items) lists (more: fewer vectors scanned per
    probed list, a larger coarse search; ``bench/item_index.py --lists``)."""
    index_threads: int = 1
    """Threads of the index's searches and builds (faiss OpenMP). One: the engine is one
    thread by design, and spinning OpenMP workers on a busy machine take the cores that the
    worker's event loop and the broker need; scale with partitions and processes."""
    category_candidates: int = 25
    """The most popular items of each of the user's two strongest category nodes."""
    trending_candidates: int = 25
    """The most popular items overall."""
    level_weights: tuple[float, ...] = (1.0, 2.0, 3.0)
    """Category affinity weight per path level (coarse → fine); the last repeats deeper."""
    exclude_consumed: bool = True
    exclude_disliked: bool = True
    diversity: Diversity = "category_cap"
    category_cap: int = 4
    mmr_lambda: float = 0.8
    interests: int = 5
    reason_share: float = 0.2

    def __post_init__(self) -> None:
        _check(1 <= self.k <= MAX_K, f"recommend.k in [1, {MAX_K}]")
        _check(0.0 <= self.alpha <= 1.0, "recommend.alpha in [0, 1]")
        _check(self.recent_items >= 1 and 0.0 < self.recent_position_decay <= 1.0, "recent")
        _check(len(self.level_weights) >= 1, "recommend.level_weights must not be empty")
        _check(
            self.index_min_items >= 1
            and self.index_nprobe >= 1
            and self.index_threads >= 1
            and self.index_lists_per_sqrt > 0
            and self.index_codes in ("pq4", "fp16")
            and self.index_rerank >= 1.0,
            "recommend: index knobs",
        )
        _check(all(w >= 0.0 for w in self.level_weights), "recommend.level_weights >= 0")
        _check(self.diversity in ("none", "category_cap", "mmr"), "recommend.diversity")
        _check(self.category_cap >= 1 and 0.0 <= self.mmr_lambda <= 1.0, "diversity knobs")


@dataclass(frozen=True, slots=True)
class DriftParams:
    """Interest-drift alerts (:mod:`state.drift`; ``docs/drift.md``): a user's recent events
    moving onto categories that are new or rare in their long-term profile.

    ``rare_share``: a category holding less than this share of the profile before the change
    is new (an established secondary interest holds more). ``recent_events``: the score is
    the share of the last this-many events' weight in new categories; ``enter``/``exit``:
    hysteresis on it. ``min_evidence``: evidence units before an alert: distinct
    ``(item, session)`` pairs in new categories (sessions split at ``session_gap_ms``), plus
    one per ``repeat_events`` further events on them. ``min_history``: distinct
    consumed items the profile must hold outside the change. ``window``: the most events
    of a running change looked at (capped by ``limits.max_recent + 1``). ``level``: the
    category path level compared (1 = top).
    """

    enter: float = 0.8
    exit: float = 0.4
    rare_share: float = 0.03
    recent_events: int = 3
    min_evidence: int = 3
    repeat_events: int = 8
    session_gap_ms: int = 30 * 60_000
    min_history: int = 2
    window: int = 16
    cooldown_ms: int = DAY_MS
    level: int = 1
    top_categories: int = 3
    severity_medium: float = 0.9
    severity_high: float = 1.0
    """Severity by score: ``high`` when every recent event is in new categories."""

    def __post_init__(self) -> None:
        _check(0.0 < self.exit < self.enter <= 1.0, "drift: 0 < exit < enter <= 1")
        _check(0.0 < self.rare_share < 1.0, "drift.rare_share in (0, 1)")
        _check(min(self.recent_events, self.window, self.repeat_events) >= 1, "drift: counts >= 1")
        _check(self.min_evidence >= 1 and self.min_history >= 0, "drift evidence/history")
        _check(self.session_gap_ms > 0 and self.cooldown_ms >= 0, "drift: session gap, cooldown")
        _check(self.level >= 1 and self.top_categories >= 1, "drift: level, top_categories")


@dataclass(frozen=True, slots=True)
class LimitParams:
    """Input bounds (violations are rejections) and per-user memory bounds."""

    max_message_bytes: int = 65_536
    max_id_length: int = 256
    max_text_length: int = 4_096
    max_tags: int = 64
    max_category_depth: int = 8
    future_bound_ms: int = DAY_MS
    allowed_lateness_ms: int = 7 * DAY_MS
    max_recent: int = 20
    max_consumed: int = 10_000
    max_disliked: int = 1_000
    max_categories: int = 512

    def __post_init__(self) -> None:
        sizes = (self.max_message_bytes, self.max_id_length, self.max_text_length)
        _check(all(v > 0 for v in sizes), "limits: sizes must be > 0")
        _check(self.future_bound_ms >= 0 and self.allowed_lateness_ms >= 0, "limits: bounds")
        _check(self.max_recent >= 1 and self.max_categories >= 1, "limits: memory bounds")


@dataclass(frozen=True, slots=True)
class IdempotencyParams:
    """How many recent ``event_id`` s each user remembers for deduplication."""

    event_id_window: int = 256

    def __post_init__(self) -> None:
        _check(self.event_id_window >= 1, "idempotency.event_id_window >= 1")


@dataclass(frozen=True, slots=True)
class EngineParams:
    """Everything the engine is configured with; the defaults are the documented ones."""

    decay: DecayParams = field(default_factory=DecayParams)
    event_types: Mapping[str, TypeWeight] = field(default_factory=_default_types)
    weights: Weights = field(default_factory=Weights)
    covis: CovisParams = field(default_factory=CovisParams)
    trending: TrendingParams = field(default_factory=TrendingParams)
    recommend: RecommendParams = field(default_factory=RecommendParams)
    drift: DriftParams = field(default_factory=DriftParams)
    limits: LimitParams = field(default_factory=LimitParams)
    idempotency: IdempotencyParams = field(default_factory=IdempotencyParams)
    text_weight: float = 0.5
    """Weight of an event's free ``text`` in the interest vectors, relative to its type weight."""
    apply_signals_locally: bool = True
    """Replay: apply co-visitation/trending deltas in-process. The worker sets False."""
    accept_unknown_items: bool = False
    """False: an event whose item is neither known nor inline is rejected (``unknown_item``)."""

    def __post_init__(self) -> None:
        _check(len(self.event_types) > 0, "event_types must not be empty")
        _check(self.limits.max_recent >= self.covis.window_events, "max_recent < window_events")
        _check(self.limits.max_recent >= self.recommend.recent_items, "max_recent < recent")
        object.__setattr__(self, "event_types", MappingProxyType(dict(self.event_types)))
