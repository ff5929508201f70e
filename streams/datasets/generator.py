"""``generate(params)``: the whole synthetic dataset, in memory and columnar.

The pipeline: taxonomy → catalog (texts, Zipf popularity) → complement leaves and bundles →
users (interests, switches) → sessions (timing, regimes) → visits (items) → funnel (typed
events in event-time order) → delivery (late arrivals, resends, file order). Each stage draws
from its own child of ``SeedSequence(params.seed)``, so a stage's randomness does not shift
when another stage changes. ``streams.datasets.records`` turns the result into JSON records.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from streams.datasets.bundles import Bundles, make_bundles, make_complements
from streams.datasets.catalog import SyntheticCatalog, make_catalog
from streams.datasets.delivery import Delivery, plan_delivery
from streams.datasets.funnel import VIEW, EventTable, expand_funnel
from streams.datasets.params import EVENTS_PER_VISIT, GeneratorParams
from streams.datasets.sampling import IntArray
from streams.datasets.sessions import SessionPlan, plan_sessions
from streams.datasets.taxonomy import Taxonomy, load_taxonomy
from streams.datasets.users import UserModel, make_users
from streams.datasets.visits import Visits, choose_items

__all__ = ["SyntheticDataset", "generate"]

BoolArray = npt.NDArray[np.bool_]
_DAY_MS = 86_400_000


@dataclass(frozen=True, slots=True)
class SyntheticDataset:
    """Everything generated. Event-level arrays (``event_*``) follow ``events`` order."""

    params: GeneratorParams
    taxonomy: Taxonomy
    catalog: SyntheticCatalog
    deleted: tuple[int, ...]
    bundles: Bundles
    complements: IntArray
    users: UserModel
    plan: SessionPlan
    visits: Visits
    events: EventTable
    delivery: Delivery
    session_query: tuple[str | None, ...]
    event_inline: BoolArray

    def event_user(self) -> IntArray:
        """The user of every event."""
        return self.plan.visit_user[self.events.visit]

    def event_item(self) -> IntArray:
        """The item of every event."""
        return self.visits.item[self.events.visit]

    def event_session(self) -> IntArray:
        """The session of every event."""
        return self.plan.visit_session[self.events.visit]

    def event_has_text(self) -> BoolArray:
        """Whether each event carries a search query."""
        has_query = np.array([q is not None for q in self.session_query], dtype=bool)
        visit = self.events.visit
        first = self.plan.visit_first[visit]
        has: BoolArray = (self.events.type == VIEW) & first
        has &= has_query[self.plan.visit_session[visit]]
        return has

    def event_text(self, e: int) -> str | None:
        """The search query event ``e`` carries (on a session's first view), if any."""
        visit = int(self.events.visit[e])
        if self.events.type[e] != VIEW or not self.plan.visit_first[visit]:
            return None
        return self.session_query[int(self.plan.visit_session[visit])]


def _queries(
    taxonomy: Taxonomy,
    session_leaf: IntArray,
    session_taste: IntArray,
    rate: float,
    rng: np.random.Generator,
) -> tuple[str | None, ...]:
    """Per session, a query (``adjective noun``: the user's preferred noun in the leaf) or None."""
    has = rng.random(session_leaf.size) < rate
    adj_pick = rng.integers(0, 1 << 30, size=session_leaf.size)
    out: list[str | None] = []
    for s, leaf_index in enumerate(session_leaf.tolist()):
        if not has[s]:
            out.append(None)
            continue
        leaf = taxonomy.leaves[leaf_index]
        adj = leaf.adjectives[adj_pick[s] % len(leaf.adjectives)]
        noun = leaf.nouns[(session_taste[s] + leaf_index) % len(leaf.nouns)]
        out.append(f"{adj} {noun}")
    return tuple(out)


def generate(params: GeneratorParams) -> SyntheticDataset:
    """Generate the dataset ``params`` describe (deterministic for ``params``)."""
    rngs = [np.random.default_rng(s) for s in np.random.SeedSequence(params.seed).spawn(9)]
    taxonomy = load_taxonomy(params.categories, params.fanout, params.depth)
    catalog = make_catalog(taxonomy, params.items, params.zipf, rngs[0])
    complements = make_complements(taxonomy, rngs[1])
    bundles = make_bundles(
        catalog, complements, params.n_bundles, rngs[1], max_size=params.bundle_max_size
    )
    users = make_users(
        taxonomy,
        params.users,
        params.events_per_user / EVENTS_PER_VISIT,
        params.drift_fraction,
        rngs[2],
    )
    span_ms = int(params.span_days * _DAY_MS)
    plan = plan_sessions(users, params.session_length, params.start_ms, span_ms, rngs[3])
    visits = choose_items(
        plan,
        users,
        catalog,
        bundles,
        rngs[4],
        leaf_tops=taxonomy.leaf_tops(),
        mission_rate=params.mission_rate,
        bundle_focus=params.bundle_focus,
        noise=params.noise,
        taste=params.taste,
    )
    events = expand_funnel(plan.visit_ts, visits.affinity, rngs[5])
    delivery = plan_delivery(
        events.ts, params.late_fraction, params.max_delay_ms, params.duplicate_fraction, rngs[6]
    )
    queries = _queries(
        taxonomy,
        visits.session_leaf,
        users.taste[plan.session_user],
        params.query_rate,
        rngs[7],
    )
    n_deleted = min(params.deleted_items, catalog.size)
    deleted = tuple(sorted(rngs[8].choice(catalog.size, n_deleted, replace=False).tolist()))
    return SyntheticDataset(
        params=params,
        taxonomy=taxonomy,
        catalog=catalog,
        deleted=deleted,
        bundles=bundles,
        complements=complements,
        users=users,
        plan=plan,
        visits=visits,
        events=events,
        delivery=delivery,
        session_query=queries,
        event_inline=rngs[8].random(events.size) < params.inline_fraction,
    )
