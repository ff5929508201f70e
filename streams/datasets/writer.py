"""Write a generated dataset to a directory: the JSONL files and ``manifest.json``.

Files (UTF-8, one compact JSON object per line, ``\\n``-terminated): ``items.jsonl``,
``events.jsonl`` (arrival order), ``drift_truth.jsonl``, ``users_truth.jsonl``, and
``manifest.json`` (indented). Existing files of those names are replaced; nothing else in the
directory is touched. The same dataset always gives byte-identical files.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from streams.datasets.generator import SyntheticDataset
from streams.datasets.records import (
    drift_truth,
    event_records,
    item_records,
    manifest,
    users_truth,
)

__all__ = ["write_dataset", "write_jsonl"]


def write_jsonl(path: Path, records: Iterable[dict[str, Any]]) -> int:
    """Write ``records`` as JSON lines (NaN and infinities refused); returns the line count."""
    n = 0
    with path.open("w", encoding="utf-8", newline="\n") as f:
        for rec in records:
            f.write(json.dumps(rec, separators=(",", ":"), ensure_ascii=False, allow_nan=False))
            f.write("\n")
            n += 1
    return n


def write_dataset(ds: SyntheticDataset, out_dir: Path) -> dict[str, Any]:
    """Write every file of ``ds`` into ``out_dir`` (created if missing); returns the manifest."""
    out_dir.mkdir(parents=True, exist_ok=True)
    write_jsonl(out_dir / "items.jsonl", item_records(ds))
    write_jsonl(out_dir / "events.jsonl", event_records(ds))
    write_jsonl(out_dir / "drift_truth.jsonl", drift_truth(ds))
    write_jsonl(out_dir / "users_truth.jsonl", users_truth(ds))
    meta = manifest(ds)
    (out_dir / "manifest.json").write_text(
        json.dumps(meta, indent=2, sort_keys=True) + "\n", encoding="utf-8"
    )
    return meta
