"""The synthetic dataset the pipeline, signals and candidates benches share (one cache)."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from streams.datasets.params import GeneratorParams
from streams.datasets.synthetic import generate_dataset

CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "interest-tracker"


def pipeline_dataset(
    items: int, users: int, events_per_user: float, log: Callable[[str], None] | None = None
) -> Path:
    """The folder of the dataset for these sizes (seed 3, 10 % drifting users), generated
    into the cache on first use."""
    data = CACHE / f"bench-data-{items}-{users}-{events_per_user:g}"
    if not (data / "manifest.json").exists():
        if log is not None:
            log(f"generating {items} items, {users} users into {data}")
        params = GeneratorParams(
            users=users,
            items=items,
            drift_fraction=0.1,
            seed=3,
            events_per_user=events_per_user,
        )
        generate_dataset(params, data)
    return data
