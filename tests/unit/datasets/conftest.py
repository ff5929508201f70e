"""A small generated dataset, written once per test session."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from streams.datasets import GeneratorParams, SyntheticDataset, generate, write_dataset

SMALL = GeneratorParams(
    users=300,
    items=600,
    seed=11,
    events_per_user=40.0,
    drift_fraction=0.3,
    late_fraction=0.08,
    duplicate_fraction=0.03,
)


@dataclass(frozen=True)
class Written:
    """A generated dataset and the files it was written to."""

    ds: SyntheticDataset
    root: Path
    manifest: dict[str, Any]

    def lines(self, name: str) -> list[bytes]:
        return (self.root / name).read_bytes().splitlines()

    def records(self, name: str) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.lines(name)]


@pytest.fixture(scope="session")
def small(tmp_path_factory: pytest.TempPathFactory) -> Written:
    ds = generate(SMALL)
    root = tmp_path_factory.mktemp("small-dataset")
    return Written(ds, root, write_dataset(ds, root))
