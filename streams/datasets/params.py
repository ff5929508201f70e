"""``GeneratorParams``: every knob of the synthetic data generator, validated, with defaults.

Documented for users in ``docs/data.md``. ``events_per_user`` is a target mean: users' visit
counts are drawn around ``events_per_user / EVENTS_PER_VISIT`` and the funnel decides how many
events a visit becomes, so the realised mean is close but not exact (the manifest has it).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import Any

from streams.datasets.taxonomy import MAX_CATEGORIES, MAX_DEPTH, MAX_FANOUT

__all__ = ["DEFAULT_START_MS", "EVENTS_PER_VISIT", "GeneratorParams"]

EVENTS_PER_VISIT = 1.65
DEFAULT_START_MS = 1_704_067_200_000  # 2024-01-01T00:00:00Z


@dataclass(frozen=True, slots=True)
class GeneratorParams:
    """The generator's inputs; the same params and seed give byte-identical files."""

    users: int = 1000
    items: int = 2000
    seed: int = 0
    events_per_user: float = 50.0
    drift_fraction: float = 0.1
    categories: int = MAX_CATEGORIES
    fanout: int = MAX_FANOUT
    depth: int = MAX_DEPTH
    zipf: float = 0.8
    bundles: int | None = None
    bundle_max_size: int = 7
    mission_rate: float = 0.5
    bundle_focus: float = 0.7
    noise: float = 0.05
    taste: float = 0.6
    session_length: float = 5.0
    late_fraction: float = 0.05
    max_delay_ms: int = 600_000
    duplicate_fraction: float = 0.01
    query_rate: float = 0.3
    inline_fraction: float = 0.02
    deleted_items: int = 5
    start_ms: int = DEFAULT_START_MS
    span_days: float = 30.0

    def __post_init__(self) -> None:
        floats = {f.name: getattr(self, f.name) for f in fields(self) if f.type == "float"}
        odd = sorted(name for name, v in floats.items() if not math.isfinite(v))
        if odd:  # nan passes every comparison below
            raise ValueError(f"{', '.join(odd)} must be finite")
        if self.users < 1 or self.items < 1:
            raise ValueError("users and items must be >= 1")
        if self.events_per_user < EVENTS_PER_VISIT * 4:
            raise ValueError(f"events_per_user must be >= {EVENTS_PER_VISIT * 4:g}")
        if not 1 <= self.categories <= MAX_CATEGORIES:
            raise ValueError(f"categories must be in [1, {MAX_CATEGORIES}]")
        if not 1 <= self.fanout <= MAX_FANOUT or not 1 <= self.depth <= MAX_DEPTH:
            raise ValueError(f"fanout must be in [1, {MAX_FANOUT}], depth in [1, {MAX_DEPTH}]")
        for name in (
            "drift_fraction",
            "mission_rate",
            "bundle_focus",
            "noise",
            "taste",
            "late_fraction",
            "duplicate_fraction",
            "query_rate",
            "inline_fraction",
        ):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {value}")
        if self.zipf < 0 or self.session_length < 1 or self.span_days <= 0:
            raise ValueError("zipf must be >= 0, session_length >= 1, span_days > 0")
        if self.bundles is not None and self.bundles < 1:
            raise ValueError("bundles must be >= 1")
        if self.bundle_max_size < 3 or self.deleted_items < 0 or self.max_delay_ms < 1000:
            raise ValueError("bundle_max_size >= 3, deleted_items >= 0, max_delay_ms >= 1000")

    @property
    def n_bundles(self) -> int:
        """The bundle count: ``bundles``, or one per four items."""
        return self.bundles if self.bundles is not None else max(1, self.items // 4)

    def to_dict(self) -> dict[str, Any]:
        """The params as a JSON-ready dict (the manifest's ``params``)."""
        return asdict(self)
