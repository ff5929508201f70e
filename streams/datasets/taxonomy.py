"""The category tree and its vocabularies (``taxonomy.json``), cut to the requested shape.

The packaged taxonomy has 8 top-level categories × 3 mid-level × 3 leaves; every top has
brand names and adjectives, every mid-level node attribute phrases, every leaf product nouns
and use phrases. ``load_taxonomy(categories, fanout, depth)`` keeps the first ``categories``
tops and the first ``fanout`` children of every node, then cuts the paths at ``depth``
(1–3); a cut node's leaf vocabulary is the union of its descendants' (nouns, uses).

Leaves are numbered top by top, so the leaves of top ``t`` are the contiguous range
``top_leaves(t)``; the tree is regular (every top has ``leaves_per_top`` leaves).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = ["MAX_CATEGORIES", "MAX_DEPTH", "MAX_FANOUT", "Leaf", "Taxonomy", "load_taxonomy"]

MAX_CATEGORIES = 8
MAX_FANOUT = 3
MAX_DEPTH = 3


@dataclass(frozen=True, slots=True)
class Leaf:
    """One leaf category: its path and the words its items' texts are composed from."""

    path: str
    top: int
    nouns: tuple[str, ...]
    uses: tuple[str, ...]
    attributes: tuple[str, ...]
    brands: tuple[str, ...]
    adjectives: tuple[str, ...]

    @property
    def name(self) -> str:
        """The last path segment."""
        return self.path.rsplit("/", 1)[-1]


@dataclass(frozen=True, slots=True)
class Taxonomy:
    """A regular category tree: ``tops`` top-level names, leaves numbered top by top."""

    tops: tuple[str, ...]
    leaves: tuple[Leaf, ...]

    @property
    def leaves_per_top(self) -> int:
        """How many leaves every top-level category has."""
        return len(self.leaves) // len(self.tops)

    def top_leaves(self, top: int) -> range:
        """The leaf indices under top-level category ``top``."""
        n = self.leaves_per_top
        return range(top * n, (top + 1) * n)

    def leaf_tops(self) -> npt.NDArray[np.int64]:
        """The top-level index of every leaf."""
        return np.array([leaf.top for leaf in self.leaves], dtype=np.int64)


def _raw() -> dict[str, Any]:
    text = resources.files("streams.datasets").joinpath("taxonomy.json").read_text("utf-8")
    data: dict[str, Any] = json.loads(text)
    return data


def _merge(nodes: list[dict[str, Any]], key: str) -> tuple[str, ...]:
    return tuple(dict.fromkeys(w for n in nodes for w in n[key]))


def load_taxonomy(
    categories: int = MAX_CATEGORIES, fanout: int = MAX_FANOUT, depth: int = MAX_DEPTH
) -> Taxonomy:
    """The packaged taxonomy with ``categories`` tops, ``fanout`` children per node, ``depth``.

    Raises ``ValueError`` when a number is outside what the packaged taxonomy holds.
    """
    if not 1 <= categories <= MAX_CATEGORIES:
        raise ValueError(f"categories must be in [1, {MAX_CATEGORIES}], got {categories}")
    if not 1 <= fanout <= MAX_FANOUT:
        raise ValueError(f"fanout must be in [1, {MAX_FANOUT}], got {fanout}")
    if not 1 <= depth <= MAX_DEPTH:
        raise ValueError(f"depth must be in [1, {MAX_DEPTH}], got {depth}")
    tops = _raw()["tops"][:categories]
    leaves: list[Leaf] = []
    for t, top in enumerate(tops):
        mids = top["mids"][:fanout]
        groups: list[tuple[str, list[dict[str, Any]], list[dict[str, Any]]]]
        if depth == 1:
            groups = [(top["name"], mids, [lf for m in mids for lf in m["leaves"][:fanout]])]
        elif depth == 2:
            groups = [(f"{top['name']}/{m['name']}", [m], m["leaves"][:fanout]) for m in mids]
        else:
            groups = [
                (f"{top['name']}/{m['name']}/{lf['name']}", [m], [lf])
                for m in mids
                for lf in m["leaves"][:fanout]
            ]
        leaves.extend(
            Leaf(
                path=path,
                top=t,
                nouns=_merge(nodes, "nouns"),
                uses=_merge(nodes, "uses"),
                attributes=_merge(mid_nodes, "attributes"),
                brands=tuple(top["brands"]),
                adjectives=tuple(top["adjectives"]),
            )
            for path, mid_nodes, nodes in groups
        )
    return Taxonomy(tops=tuple(t["name"] for t in tops), leaves=tuple(leaves))
