"""The synthetic item catalog: texts composed from a leaf's vocabulary, Zipf popularity.

Every item belongs to one leaf category. Its title is ``Brand Adjective Noun [Suffix]`` and
its description two sentences built from the leaf's nouns and use phrases and its mid-level
category's attribute phrases, so items of one leaf share nouns and uses and a sentence encoder
separates leaves (and, less sharply, mid-level and top-level categories). Tags: the leaf name,
the adjective, the noun's head word, the mid-level name.

Popularity is Zipf: the item at popularity rank ``r`` (a random permutation) has weight
``1 / (r + 1) ** zipf``; ``popularity`` is normalised to sum 1. Leaf sizes vary (log-normal
leaf weights), each leaf holding at least ``min(2, n_items // n_leaves)`` items.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from streams.datasets.sampling import IntArray
from streams.datasets.taxonomy import Leaf, Taxonomy

__all__ = ["SyntheticCatalog", "item_id", "make_catalog"]

FloatArray = npt.NDArray[np.float64]
_SUFFIXES = ("", "", "", " Pro", " Lite", " 2", " Plus", " Max", " Classic", " Mini", " Sport")
_VOWELS = frozenset("aeiou")


def item_id(index: int) -> str:
    """The id of catalog item ``index``."""
    return f"i{index:06d}"


@dataclass(frozen=True, slots=True)
class SyntheticCatalog:
    """Item records (JSON objects, index = item number) and per item: leaf, noun, popularity.

    ``noun`` indexes the leaf's noun list (``nouns_per_leaf[leaf]`` long): the product type
    the item's title names.
    """

    records: tuple[dict[str, Any], ...]
    leaf: IntArray
    noun: IntArray
    popularity: FloatArray
    nouns_per_leaf: IntArray

    @property
    def size(self) -> int:
        """Number of items."""
        return len(self.records)


def _a(word: str, noun: str) -> str:
    """``word`` with the indefinite article ``noun`` needs (none for a plural noun)."""
    if noun.endswith("s") and not noun.endswith("ss"):
        return word
    return f"an {word}" if word[:1] in _VOWELS else f"a {word}"


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def _title_case(text: str) -> str:
    return " ".join(_cap(w) for w in text.split(" "))


def _describe(leaf: Leaf, picks: npt.NDArray[np.int64]) -> tuple[str, str, list[str]]:
    """Title, description and tags from one row of word picks (indices modulo list sizes)."""
    brand = leaf.brands[picks[0] % len(leaf.brands)]
    adj = leaf.adjectives[picks[1] % len(leaf.adjectives)]
    noun = leaf.nouns[picks[2] % len(leaf.nouns)]
    attr = leaf.attributes[picks[3] % len(leaf.attributes)]
    use = leaf.uses[picks[4] % len(leaf.uses)]
    use2 = leaf.uses[(picks[4] + 1) % len(leaf.uses)]
    suffix = _SUFFIXES[picks[5] % len(_SUFFIXES)]
    title = f"{brand} {_title_case(adj)} {_title_case(noun)}{suffix}"
    template = picks[6] % 3
    if template == 0:
        desc = f"{_cap(_a(adj, noun))} {noun} {attr}, made for {use}. Also great for {use2}."
    elif template == 1:
        desc = f"This {adj} {noun} from {brand} is ideal for {use}. {_cap(noun)} {attr}."
    else:
        desc = f"Designed for {use}: {_a(adj, noun)} {noun} {attr}. A favourite for {use2}."
    mid = leaf.path.split("/")[1] if leaf.path.count("/") >= 1 else leaf.path
    tags = list(dict.fromkeys([leaf.name, adj, noun.rsplit(" ", 1)[-1], mid]))
    return title, desc, tags


def make_catalog(
    taxonomy: Taxonomy, n_items: int, zipf: float, rng: np.random.Generator
) -> SyntheticCatalog:
    """``n_items`` items spread over the taxonomy's leaves (``ValueError`` if too few)."""
    n_leaves = len(taxonomy.leaves)
    if n_items < n_leaves:
        raise ValueError(f"need at least one item per leaf category ({n_leaves}), got {n_items}")
    floor = min(2, n_items // n_leaves)
    leaf_w = rng.lognormal(0.0, 0.4, n_leaves)
    rest = rng.choice(n_leaves, size=n_items - floor * n_leaves, p=leaf_w / leaf_w.sum())
    leaf = rng.permutation(np.concatenate([np.repeat(np.arange(n_leaves), floor), rest]))
    rank = rng.permutation(n_items)
    weight = 1.0 / (rank + 1.0) ** zipf
    picks = rng.integers(0, 1 << 30, size=(n_items, 7))
    records: list[dict[str, Any]] = []
    for i in range(n_items):
        lf = taxonomy.leaves[int(leaf[i])]
        title, desc, tags = _describe(lf, picks[i])
        records.append(
            {
                "item_id": item_id(i),
                "title": title,
                "description": desc,
                "category": lf.path,
                "tags": tags,
            }
        )
    n_nouns = np.array([len(lf.nouns) for lf in taxonomy.leaves], dtype=np.int64)
    return SyntheticCatalog(
        records=tuple(records),
        leaf=leaf.astype(np.int64),
        noun=picks[:, 2] % n_nouns[leaf],
        popularity=weight / weight.sum(),
        nouns_per_leaf=n_nouns,
    )
