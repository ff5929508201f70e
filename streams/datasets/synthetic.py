"""The generator's one-call facade: ``generate_dataset(params, out_dir)``.

Used by ``generate`` and by ``produce --generate``; equivalent to
``write_dataset(generate(params), out_dir)``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from streams.datasets.generator import generate
from streams.datasets.params import GeneratorParams
from streams.datasets.writer import write_dataset

__all__ = ["GeneratorParams", "generate_dataset"]


def generate_dataset(params: GeneratorParams, out_dir: Path) -> dict[str, Any]:
    """Generate the dataset ``params`` describe into ``out_dir``; returns the manifest."""
    return write_dataset(generate(params), out_dir)
