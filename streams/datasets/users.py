"""The latent user model: activity, interests in two regimes, and planted interest switches.

Every user has a home top-level category (drawn by log-normal top weights) and, within it,
``prefs`` preferred leaves with Dirichlet(1) weights; with probability ``secondary`` the last
preferred leaf is swapped for a leaf of another top: a side interest that gets ``side_share``
of the sessions (the home leaves share the rest), and it shows from the user's first visits on
(``visits.FIRST_VISITS``). Side interests are kept minor so that a planted switch, which
moves *every* later session, stays distinguishable from them. Regime 1 equals regime 0
except for the ``drift_fraction`` of users chosen to switch: their regime-1 home is a
top-level category new to them (neither the home's nor, with at least three tops, the side
interest's) with freshly drawn leaves and weights. ``switch_frac`` in [0.3, 0.6] says where in
the user's sessions the switch falls (``sessions`` turns it into a session index).

Taste: within a leaf, a user prefers one product type (noun): the noun at index
``(taste + leaf) % n_nouns(leaf)``. Text similarity sees it in the user's history; co-visitation
only through other users of the same taste.

Activity (visits per user) is log-normal around ``visits_mean`` (σ = 0.5), at least 4.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from streams.datasets.sampling import IntArray
from streams.datasets.taxonomy import Taxonomy

__all__ = ["UserModel", "make_users", "user_id"]

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]


def user_id(index: int) -> str:
    """The id of user ``index``."""
    return f"u{index:06d}"


@dataclass(frozen=True, slots=True)
class UserModel:
    """Per-user latent parameters; axis 1 of the regime arrays is (before, after) a switch."""

    n_visits: IntArray
    top: IntArray
    pref_leaves: IntArray
    pref_weights: FloatArray
    drifts: BoolArray
    switch_frac: FloatArray
    taste: IntArray

    @property
    def count(self) -> int:
        """Number of users."""
        return int(self.n_visits.size)


def _leaves_in_top(
    taxonomy: Taxonomy, top: IntArray, prefs: int, rng: np.random.Generator
) -> IntArray:
    per_top = taxonomy.leaves_per_top
    order = np.argsort(rng.random((top.size, per_top)), axis=1)[:, :prefs]
    return (top[:, None] * per_top + order).astype(np.int64)


def _new_to_user(
    top0: IntArray, top1: IntArray, side_top: IntArray, has_side: BoolArray, n_tops: int
) -> IntArray:
    """``top1``, except where a switch would land on the user's side interest: there the next
    top (cyclically) that is neither the home nor the side top (needs three tops)."""
    if n_tops < 3:
        return top1
    clash = has_side & (top1 == side_top)
    step1 = (top1 + 1) % n_tops
    other = np.where(step1 == top0, (top1 + 2) % n_tops, step1)
    out: IntArray = np.where(clash, other, top1).astype(np.int64)
    return out


def make_users(
    taxonomy: Taxonomy,
    n_users: int,
    visits_mean: float,
    drift_fraction: float,
    rng: np.random.Generator,
    *,
    prefs: int = 3,
    secondary: float = 0.2,
    side_share: float = 0.15,
) -> UserModel:
    """Draw ``n_users`` users (``ValueError`` for impossible settings)."""
    n_tops = len(taxonomy.tops)
    if n_users < 1:
        raise ValueError("need at least one user")
    if not 0.0 <= drift_fraction <= 1.0:
        raise ValueError(f"drift_fraction must be in [0, 1], got {drift_fraction}")
    if drift_fraction > 0 and n_tops < 2:
        raise ValueError("interest switches need at least two top-level categories")
    prefs = max(1, min(prefs, taxonomy.leaves_per_top))
    sigma = 0.5
    raw = rng.lognormal(np.log(visits_mean) - sigma**2 / 2, sigma, n_users)
    n_visits = np.maximum(4, np.rint(raw)).astype(np.int64)
    top_w = rng.lognormal(0.0, 0.5, n_tops)
    top0 = rng.choice(n_tops, size=n_users, p=top_w / top_w.sum()).astype(np.int64)
    drifts = rng.random(n_users) < drift_fraction
    shift = rng.integers(1, max(n_tops, 2), size=n_users)
    top1 = np.where(drifts, (top0 + shift) % n_tops, top0).astype(np.int64)
    leaves = np.stack(
        [_leaves_in_top(taxonomy, top0, prefs, rng), _leaves_in_top(taxonomy, top1, prefs, rng)],
        axis=1,
    )
    weights = rng.dirichlet(np.ones(prefs), size=(n_users, 2))
    if n_tops > 1 and prefs > 1:
        side = rng.random((n_users, 2)) < secondary
        per_top = taxonomy.leaves_per_top
        offset = rng.integers(1, n_tops, (n_users, 2))
        side_top = (top0 + offset[:, 0]) % n_tops
        top1 = _new_to_user(top0, top1, side_top, drifts & side[:, 0], n_tops)
        leaves[:, 1] = top1[:, None] * per_top + leaves[:, 1] % per_top
        other_top = np.stack([side_top, (top1 + offset[:, 1]) % n_tops], axis=1)
        side_leaf = other_top * per_top + rng.integers(0, per_top, (n_users, 2))
        leaves[:, :, -1] = np.where(side, side_leaf, leaves[:, :, -1])
        home = weights[:, :, :-1] / weights[:, :, :-1].sum(axis=2, keepdims=True)
        weights[:, :, :-1] = np.where(side[:, :, None], home * (1 - side_share), weights[:, :, :-1])
        weights[:, :, -1] = np.where(side, side_share, weights[:, :, -1])
    no_switch = ~drifts
    leaves[no_switch, 1] = leaves[no_switch, 0]
    weights[no_switch, 1] = weights[no_switch, 0]
    return UserModel(
        n_visits=n_visits,
        top=np.stack([top0, top1], axis=1),
        pref_leaves=leaves,
        pref_weights=weights,
        drifts=drifts,
        switch_frac=np.where(drifts, rng.uniform(0.3, 0.6, n_users), np.nan),
        taste=rng.integers(0, 1 << 30, n_users),
    )
