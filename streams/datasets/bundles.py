"""Latent co-bought bundles ("missions") that cut across leaf categories.

Every leaf has two *complement* leaves: one under the same top-level category but another
mid-level one (where the tree has one), one under another top-level category (where there is
one) — think running shoes → trail socks (same top) and a GPS watch (electronics). A bundle
has an anchor leaf (drawn in proportion to leaf size) and ``3..max_size`` members: 60 % from
the anchor leaf, the rest from the same-top complement, or — in ``cross_top`` of the bundles —
alternately from both complements (so a bundle spans 2–3 leaves and sometimes 2 tops), each
member drawn by the square root of its popularity, repeats dropped. Cross-top members stay a
small share of a mission, so a mission does not look like an interest switch.

Users on a mission visit the members of one bundle in one session; many users on the same
bundle is what makes co-visitation carry signal that text similarity (which sees only the
anchor leaf) does not.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from streams.datasets.catalog import SyntheticCatalog
from streams.datasets.sampling import GroupSampler, IntArray
from streams.datasets.taxonomy import Taxonomy

__all__ = ["Bundles", "make_bundles", "make_complements"]


@dataclass(frozen=True, slots=True)
class Bundles:
    """Bundle ``b`` has anchor leaf ``anchor[b]`` and members ``members[indptr[b]:indptr[b+1]]``."""

    anchor: IntArray
    indptr: IntArray
    members: IntArray

    @property
    def count(self) -> int:
        """Number of bundles."""
        return int(self.anchor.size)

    def of(self, b: int) -> IntArray:
        """The member items of bundle ``b``."""
        return self.members[self.indptr[b] : self.indptr[b + 1]]

    def bundle_of_member(self) -> IntArray:
        """For every entry of ``members``, its bundle."""
        return np.repeat(np.arange(self.count), np.diff(self.indptr))


def make_complements(taxonomy: Taxonomy, rng: np.random.Generator) -> IntArray:
    """Shape ``(n_leaves, 2)``: a same-top complement and an other-top complement per leaf.

    Falls back to any other leaf where the tree is too small for the preferred kind.
    """
    paths = [leaf.path.split("/") for leaf in taxonomy.leaves]
    n = len(paths)
    out = np.zeros((n, 2), dtype=np.int64)
    for i, p in enumerate(paths):
        others = [j for j in range(n) if j != i] or [i]
        same_top = [j for j in others if paths[j][0] == p[0] and paths[j][:2] != p[:2]]
        same_top = same_top or [j for j in others if paths[j][0] == p[0]] or others
        other_top = [j for j in others if paths[j][0] != p[0]] or others
        out[i, 0] = same_top[rng.integers(len(same_top))]
        out[i, 1] = other_top[rng.integers(len(other_top))]
    return out


def make_bundles(
    catalog: SyntheticCatalog,
    complements: IntArray,
    n_bundles: int,
    rng: np.random.Generator,
    *,
    max_size: int,
    cross_top: float = 0.35,
) -> Bundles:
    """``n_bundles`` bundles of 3..``max_size`` distinct items (see the module docstring)."""
    n_leaves = complements.shape[0]
    if n_bundles < 1 or max_size < 3:
        raise ValueError("need at least one bundle of at least 3 items")
    leaf_size = np.bincount(catalog.leaf, minlength=n_leaves).astype(np.float64)
    anchor = rng.choice(n_leaves, size=n_bundles, p=leaf_size / leaf_size.sum())
    size = rng.integers(3, max_size + 1, size=n_bundles)
    n_anchor = np.ceil(0.6 * size).astype(np.int64)
    two_complements = rng.random(n_bundles) < cross_top
    bundle = np.repeat(np.arange(n_bundles), size)
    pos = np.arange(bundle.size) - np.repeat(np.cumsum(size) - size, size)
    col = np.where(two_complements[bundle], (pos - n_anchor[bundle]) % 2, 0)
    leaf = np.where(pos < n_anchor[bundle], anchor[bundle], complements[anchor[bundle], col])
    by_leaf = GroupSampler(catalog.leaf, np.sqrt(catalog.popularity), n_groups=n_leaves)
    item = by_leaf.sample(leaf, rng)
    keep = item >= 0
    pairs = np.unique(bundle[keep] * catalog.size + item[keep])
    b_of, members = np.divmod(pairs, catalog.size)
    indptr = np.concatenate(([0], np.cumsum(np.bincount(b_of, minlength=n_bundles))))
    return Bundles(anchor=anchor.astype(np.int64), indptr=indptr, members=members)
