"""Synthetic catalogs and event streams with known structure (bundles, popularity, switches).

``generate(GeneratorParams(...))`` builds a dataset in memory; ``write_dataset`` writes
``items.jsonl``, ``events.jsonl``, the truth files and ``manifest.json`` (``docs/data.md``).
"""

from streams.datasets.generator import SyntheticDataset, generate
from streams.datasets.params import GeneratorParams
from streams.datasets.writer import write_dataset

__all__ = ["GeneratorParams", "SyntheticDataset", "generate", "write_dataset"]
