"""The result of an evaluation run: per-method metrics and what was evaluated on."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["EvalReport", "MethodScores"]


@dataclass(frozen=True, slots=True)
class MethodScores:
    """Mean metrics of one method over the evaluated users (full catalog and sampled;
    ``None``: the method has no sampled metrics, as ``served``, or no user was evaluated)."""

    method: str
    users: int
    hr_full: float | None
    ndcg_full: float | None
    hr_sampled: float | None
    ndcg_sampled: float | None


@dataclass(frozen=True, slots=True)
class EvalReport:
    """An evaluation: the protocol's settings, the data's counts and the methods' scores.

    ``lines``: events-file lines; ``train_lines``: those trained on; ``rejected`` (event lines) and
    ``duplicates``: as the engine counted them while training; ``users``: distinct users with
    a valid event; ``evaluated``: users with a held-out item that the catalog can rank;
    ``skipped``: users without a usable hold-out (no positive event, too little history, or a
    held-out item the catalog cannot rank).
    """

    k: int
    negatives: int
    seed: int
    items: int
    lines: int
    train_lines: int
    rejected: int
    duplicates: int
    users: int
    evaluated: int
    skipped: int
    methods: tuple[MethodScores, ...] = field(default_factory=tuple)
    drift: dict[str, int | float | None] | None = None
    items_rejected: int = 0
    """Catalog lines rejected (the items file's, not counted in ``rejected``)."""

    def method(self, name: str) -> MethodScores:
        """The scores of method ``name`` (``KeyError`` if it was not run)."""
        for m in self.methods:
            if m.method == name:
                return m
        raise KeyError(name)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (``evaluate --json``)."""
        out = asdict(self)
        out["methods"] = [asdict(m) for m in self.methods]
        return out
