"""Which item each visit is on: missions over bundles, leaf browsing, side interests, noise.

Per session: a leaf drawn from the user's preferred leaves of the session's regime (by their
weights); with probability ``mission_rate`` the session is a *mission* on a bundle anchored at
that leaf (drawn by the bundle's total popularity; a leaf without bundles gives a browse
session). Per visit, with probability ``noise`` an item drawn uniformly from the whole catalog
(``NOISE``); otherwise in a mission a bundle member by popularity (``BUNDLE``, probability
``bundle_focus``) or an item of the session leaf (``LEAF``); in a browse session an item of the
session leaf (``LEAF``, 0.85) or of another preferred leaf (``SIDE``). A user with a side
interest shows it from the start: their first ``FIRST_VISITS`` visits (before any switch)
alternate between a home leaf (``LEAF``, by the home weights) and the side leaf (``SIDE``), as
real secondary interests appear early rather than out of the blue. Bundle members are drawn
by popularity × their role: 1 in the anchor leaf, 0.6 in a same-top complement, 0.3 in an
other-top one (the user came for the anchor; complements are add-ons). Leaf items are drawn by
Zipf popularity — so within a leaf popular items dominate — among the items of the user's
preferred noun in that leaf with probability ``taste`` (``UserModel.taste``), else among all.

``affinity`` in [0, 1] (how much the user likes what they see) drives click-through, dwell
and ratings downstream: ``BUNDLE`` 0.9, ``LEAF`` 0.8, ``SIDE`` 0.6, ``NOISE`` 0.1, ± 0.1.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from streams.datasets.bundles import Bundles
from streams.datasets.catalog import SyntheticCatalog
from streams.datasets.sampling import GroupSampler, IntArray
from streams.datasets.sessions import SessionPlan
from streams.datasets.users import UserModel

__all__ = ["BUNDLE", "FIRST_VISITS", "LEAF", "NOISE", "SIDE", "Visits", "choose_items"]

BUNDLE, LEAF, SIDE, NOISE = 0, 1, 2, 3
FIRST_VISITS = 6
_AFFINITY = np.array([0.9, 0.8, 0.6, 0.1])
FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class Visits:
    """Per visit: item, kind and affinity; per session: leaf and bundle (-1 = browse)."""

    item: IntArray
    kind: IntArray
    affinity: FloatArray
    session_leaf: IntArray
    session_bundle: IntArray


def _pick_pref(
    users: UserModel, user: IntArray, regime: IntArray, rng: np.random.Generator
) -> IntArray:
    cum = np.cumsum(users.pref_weights[user, regime], axis=1)
    col = (rng.random(user.size)[:, None] > cum).sum(axis=1)
    col = np.minimum(col, cum.shape[1] - 1)
    leaves: IntArray = users.pref_leaves[user, regime, col]
    return leaves


def _member_weights(catalog: SyntheticCatalog, bundles: Bundles, leaf_tops: IntArray) -> FloatArray:
    """Popularity × role (1 anchor leaf, 0.6 same-top complement, 0.3 other-top) per member."""
    leaf = catalog.leaf[bundles.members]
    anchor = bundles.anchor[bundles.bundle_of_member()]
    same_top = leaf_tops[leaf] == leaf_tops[anchor]
    role = np.where(leaf == anchor, 1.0, np.where(same_top, 0.6, 0.3))
    weights: FloatArray = catalog.popularity[bundles.members] * role
    return weights


class _LeafItems:
    """Leaf items by popularity; among the user's preferred noun with probability ``taste``."""

    def __init__(self, catalog: SyntheticCatalog, users: UserModel, taste: float) -> None:
        self._nouns = catalog.nouns_per_leaf
        self._width = int(self._nouns.max())
        n_leaves = self._nouns.size
        self._by_leaf = GroupSampler(catalog.leaf, catalog.popularity, n_groups=n_leaves)
        self._by_noun = GroupSampler(
            catalog.leaf * self._width + catalog.noun,
            catalog.popularity,
            n_groups=n_leaves * self._width,
        )
        self._user_taste = users.taste
        self._taste = taste

    def sample(self, leaf: IntArray, user: IntArray, rng: np.random.Generator) -> IntArray:
        noun = (self._user_taste[user] + leaf) % self._nouns[leaf]
        picked = self._by_noun.sample(leaf * self._width + noun, rng)
        picked = np.where(rng.random(leaf.size) < self._taste, picked, -1)
        out: IntArray = np.where(picked >= 0, picked, self._by_leaf.sample(leaf, rng))
        return out


def _establish_sides(
    plan: SessionPlan,
    users: UserModel,
    leaf_tops: IntArray,
    leaf_items: _LeafItems,
    rng: np.random.Generator,
) -> tuple[IntArray, IntArray, IntArray]:
    """``(visits, kinds, items)``: the first visits of side-interest users, alternating."""
    side_leaf = users.pref_leaves[:, 0, -1]
    has = leaf_tops[side_leaf] != users.top[:, 0]
    user = np.repeat(np.flatnonzero(has), FIRST_VISITS)
    pos = np.tile(np.arange(FIRST_VISITS), int(has.sum()))
    keep = pos < users.n_visits[user]
    user, pos = user[keep], pos[keep]
    visit = (np.cumsum(users.n_visits) - users.n_visits)[user] + pos
    keep = plan.session_regime[plan.visit_session[visit]] == 0
    user, pos, visit = user[keep], pos[keep], visit[keep]
    home_w = users.pref_weights[user, 0, :-1]
    cum = np.cumsum(home_w / home_w.sum(axis=1, keepdims=True), axis=1)
    col = np.minimum((rng.random(user.size)[:, None] > cum).sum(axis=1), cum.shape[1] - 1)
    odd = pos % 2 == 1
    leaf = np.where(odd, side_leaf[user], users.pref_leaves[user, 0, col])
    item = leaf_items.sample(leaf, user, rng)
    ok = item >= 0
    kind: IntArray = np.where(odd, SIDE, LEAF).astype(np.int64)
    return visit[ok], kind[ok], item[ok]


def choose_items(
    plan: SessionPlan,
    users: UserModel,
    catalog: SyntheticCatalog,
    bundles: Bundles,
    rng: np.random.Generator,
    *,
    leaf_tops: IntArray,
    mission_rate: float,
    bundle_focus: float,
    noise: float,
    taste: float,
) -> Visits:
    """Draw every visit's item (see the module docstring)."""
    s_regime = plan.session_regime
    session_leaf = _pick_pref(users, plan.session_user, s_regime, rng)
    member_w = _member_weights(catalog, bundles, leaf_tops)
    bundle_of = bundles.bundle_of_member()
    bundle_w = np.bincount(bundle_of, member_w, minlength=bundles.count)
    by_anchor = GroupSampler(bundles.anchor, bundle_w, n_groups=catalog.nouns_per_leaf.size)
    mission = rng.random(session_leaf.size) < mission_rate
    session_bundle = np.where(mission, by_anchor.sample(session_leaf, rng), -1)

    v_sess, v_user = plan.visit_session, plan.visit_user
    v_bundle = session_bundle[v_sess]
    r = rng.random(v_sess.size)
    kind = np.where(
        v_bundle >= 0,
        np.where(r < bundle_focus, BUNDLE, LEAF),
        np.where(r < 0.85, LEAF, SIDE),
    )
    kind = np.where(rng.random(v_sess.size) < noise, NOISE, kind)

    leaf_items = _LeafItems(catalog, users, taste)
    in_bundle = GroupSampler(bundle_of, member_w, n_groups=bundles.count)
    item = np.full(v_sess.size, -1, dtype=np.int64)
    m = kind == BUNDLE
    item[m] = bundles.members[in_bundle.sample(v_bundle[m], rng)]
    m = kind == LEAF
    item[m] = leaf_items.sample(session_leaf[v_sess[m]], v_user[m], rng)
    m = kind == SIDE
    side_leaf = _pick_pref(users, v_user[m], s_regime[v_sess[m]], rng)
    item[m] = leaf_items.sample(side_leaf, v_user[m], rng)
    m = kind == NOISE
    item[m] = rng.integers(0, catalog.size, int(m.sum()))
    affinity = np.clip(_AFFINITY[kind] + rng.uniform(-0.1, 0.1, kind.size), 0.0, 1.0)
    visit, first_kind, first_item = _establish_sides(plan, users, leaf_tops, leaf_items, rng)
    item[visit], kind[visit] = first_item, first_kind
    noise_a = rng.uniform(-0.1, 0.1, visit.size)
    affinity[visit] = np.clip(_AFFINITY[first_kind] + noise_a, 0.0, 1.0)
    return Visits(
        item=item,
        kind=kind.astype(np.int64),
        affinity=affinity,
        session_leaf=session_leaf,
        session_bundle=session_bundle.astype(np.int64),
    )
