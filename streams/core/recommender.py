"""Recommendations: candidates, the blended score, exclusions, diversity and reasons.

Candidates of a user: the co-visitation neighbours of the recent items, the items nearest to
θ = α·ŝhort + (1 − α)·l̂ong (exact, one matrix product for a chunk of users), the most popular
items of the user's top categories, and the trending items. Each candidate is scored by
:mod:`state.scoring` (the same numbers :meth:`Recommender.score_users` gives for the whole
catalog), consumed and disliked items are excluded (configurable), the list is diversified
(per-category cap at the leaf, or MMR) and every item says why it is there.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from state.catalog import Catalog
from state.item_index import ItemIndex
from state.kernels import find_sorted
from state.scoring import blend, category_scores, covis_scores, normalise_max
from state.signals import Signals
from state.user import UserState
from streams.core.lists import pick, rec_items
from streams.core.outputs import Interest, RecItem, Recommendation
from streams.core.params import EngineParams
from streams.core.ranking import Semantic, exact_semantic, indexed_semantic, score_candidates
from streams.core.views import group_views

__all__ = ["GROUP_USERS", "Recommender", "UserView"]

F64 = npt.NDArray[np.float64]
F32 = npt.NDArray[np.float32]
I64 = npt.NDArray[np.int64]

GROUP_USERS = 256
"""Users ranked together (one matrix product). A user's numbers may depend on the group's
composition in the last bit (BLAS blocking), so callers that split users and need the same
bytes cut at multiples of this (:mod:`streams.commands.final_recs`)."""
_TREND = ("trending",)


@dataclass(frozen=True, slots=True)
class UserView:
    """What scoring needs of one user."""

    theta: F32
    recent: I64
    rho: F64
    shares: F64
    excluded: I64


def _unit(v: F64) -> F64:
    n = float(np.linalg.norm(v))
    return v / n if n > 0.0 else v


class Recommender:
    """Scores and recommends for users against the current catalog and signals."""

    def __init__(self, params: EngineParams, catalog: Catalog, signals: Signals) -> None:
        self.params = params
        self.catalog = catalog
        self.signals = signals
        self.weights = (
            params.weights.covis,
            params.weights.semantic,
            params.weights.category,
            params.weights.trending,
        )
        self.index = ItemIndex(
            catalog,
            min_rows=params.recommend.index_min_items,
            nprobe=params.recommend.index_nprobe,
            lists=params.recommend.index_lists_per_sqrt,
            codes=params.recommend.index_codes,
            rerank=params.recommend.index_rerank,
            threads=params.recommend.index_threads,
        )

    def view(self, st: UserState) -> UserView:
        """The scoring view of ``st`` (recency weights are relative to its newest event)."""
        g = group_views([st], self.catalog, self.params)
        return UserView(g.theta[0], g.recent_row, g.rho, g.shares[0], g.excluded_row)

    def _covis(self, v: UserView) -> tuple[I64, F64, I64]:
        cv = self.signals.covis
        if len(v.recent) == 0:
            return np.zeros(0, np.int64), np.zeros(0), np.zeros(0, np.int64)
        nbr, w = cv.neighbors(v.recent)
        beta = self.params.covis.popularity_exponent
        cv.grow(len(self.catalog))
        rows, score, best = covis_scores(
            nbr, w, v.rho, deg_src=cv.degree(v.recent), deg=cv.deg, beta=beta
        )
        ok = self.catalog.recommendable()[rows] if len(rows) else np.zeros(0, bool)
        return rows[ok], score[ok], best[ok]

    def _signals(
        self, v: UserView, rows: I64, sem: F64, sem_max: float, covis: tuple[I64, F64, I64]
    ) -> tuple[F64, I64]:
        """The ``(4, len(rows))`` normalised signals and the best covis source per row."""
        c_rows, c_score, c_best = covis
        covis_x = np.zeros(len(rows))
        best = np.full(len(rows), -1, np.int64)
        if len(c_rows):
            pos, hit = find_sorted(c_rows, rows)
            covis_x[hit] = c_score[pos[hit]]
            best[hit] = c_best[pos[hit]]
            covis_x = normalise_max(covis_x, float(c_score.max()))
        cat = category_scores(
            self.catalog.nodes[rows], v.shares, self.params.recommend.level_weights
        )
        trend = self.signals.trending.scores(len(self.catalog))[rows]
        return np.stack([covis_x, normalise_max(sem, sem_max), cat, trend]), best

    def score_users(self, states: Sequence[UserState | None]) -> F64:
        """Blended scores of every catalog row per user ``(U, rows)``; ``-inf``: not allowed.

        No exclusion and no diversity (evaluation). ``None`` (unknown user): trending only.
        """
        n = len(self.catalog)
        out = np.full((len(states), n), -np.inf)
        ok = self.catalog.recommendable()
        every = np.arange(n, dtype=np.int64)
        mat = self.catalog.matrix()
        for u, st in enumerate(states):
            if st is None or st.n_events == 0:
                trend = self.signals.trending.scores(n)
                out[u, ok] = self.weights[3] * trend[ok]
                continue
            v = self.view(st)
            sem = (mat @ v.theta).astype(np.float64)
            sem_max = float(sem[ok].max()) if ok.any() else 0.0
            x, _ = self._signals(v, every, sem, sem_max, self._covis(v))
            out[u, ok] = blend(x, self.weights)[ok]
        return out

    def recommend(
        self, states: Sequence[UserState | None], user_ids: Sequence[str], ts: Sequence[int]
    ) -> list[Recommendation]:
        """One recommendation per user (``None`` state: a cold user, trending only).

        Users are ranked in groups of up to 256: one matrix product for their similarities,
        then candidates, scores, diversity and reasons vectorised over the group
        (:mod:`streams.core.views`, :mod:`streams.core.ranking`, :mod:`streams.core.lists`).
        """
        out: list[Recommendation] = []
        rp = self.params.recommend
        n = len(self.catalog)
        ok = self.catalog.recommendable()
        trend = self.signals.trending.scores(n)
        # at least k: a cold user's list is the trending top k
        trend_top = _top_rows(np.where(ok, trend, -np.inf), max(rp.trending_candidates, rp.k))
        cold: tuple[RecItem, ...] | None = None
        cat_cache: dict[int, I64] = {}
        spelled: dict[int, tuple[str, ...]] = {}
        mat = self.catalog.matrix()
        for c0 in range(0, len(states), GROUP_USERS):
            chunk = states[c0 : c0 + GROUP_USERS]
            warm = [st for st in chunk if st is not None and st.n_events > 0]
            lists: list[tuple[RecItem, ...]] = [()] * len(warm)
            interests: list[tuple[Interest, ...]] = [()] * len(warm)
            if warm:
                v = group_views(warm, self.catalog, self.params)
                interests = v.interests
                if n:
                    scored = score_candidates(
                        v,
                        self._semantic(v.theta, mat, ok),
                        catalog=self.catalog,
                        signals=self.signals,
                        params=self.params,
                        trend=trend,
                        trend_top=trend_top,
                        category_rows=lambda nd: self._category_rows(nd, cat_cache, ok, trend),
                    )
                    picks = pick(scored, self.catalog, self.params)
                    lists = rec_items(
                        scored, picks, v.shares, self.catalog, self.params, spelled=spelled
                    )
            j = 0
            for i, st in enumerate(chunk):
                uid, t = user_ids[c0 + i], ts[c0 + i]
                if st is None or st.n_events == 0:
                    if cold is None:
                        cold = tuple(
                            RecItem(self.catalog.ids[r], float(self.weights[3] * trend[r]), _TREND)
                            for r in trend_top[: rp.k].tolist()
                        )
                    out.append(Recommendation(uid, t, cold, ()))
                else:
                    out.append(Recommendation(uid, t, lists[j], interests[j]))
                    j += 1
        return out

    def prepare(self) -> None:
        """Build what the next :meth:`recommend` would build first (the item index)."""
        self.index.prepare()

    def limit_threads(self, n: int) -> None:
        """Use at most ``n`` threads in the item index from now on."""
        self.index.threads = min(self.index.threads, n)

    def _semantic(self, theta: F32, mat: F32, ok: npt.NDArray[np.bool_]) -> Semantic:
        """Each user's semantic candidates: exact below ``index_min_items`` recommendable
        items, from the inverted-file index above."""
        k = self.params.recommend.semantic_candidates
        if not self.index.inverted(ok):
            return exact_semantic(theta, mat, ok, k)
        rows, sims = self.index.search(theta, k)
        return indexed_semantic(theta, mat, rows, sims, len(self.catalog))

    def _category_rows(
        self, node: int, cache: dict[int, I64], ok: npt.NDArray[np.bool_], pop: F64
    ) -> I64:
        """The ``category_candidates`` most popular recommendable rows under ``node``."""
        rows = cache.get(node)
        if rows is None:
            members = self.catalog.members(node)
            members = members[ok[members]]
            k = self.params.recommend.category_candidates
            rows = cache[node] = _top_of(members, pop[members], k)
        return rows

    def interests(self, st: UserState) -> tuple[Interest, ...]:
        """The user's top categories (any level) with short- and long-term shares."""
        a = self.params.recommend.alpha
        rows: list[tuple[float, str, float, float]] = []
        for depth in range(1, len(st.categories) + 1):
            s, lt = st.category_shares(False, depth), st.category_shares(True, depth)
            for name in s.keys() | lt.keys():
                sv, lv = s.get(name, 0.0), lt.get(name, 0.0)
                rows.append((-(a * sv + (1 - a) * lv), name, sv, lv))
        rows.sort()
        return tuple(
            Interest(n, sv, lv) for _, n, sv, lv in rows[: self.params.recommend.interests]
        )


def _top_rows(scores: F64, k: int) -> I64:
    """Rows of the ``k`` largest finite scores, best first (ties: smaller row)."""
    finite = np.flatnonzero(np.isfinite(scores))
    return _top_of(finite, scores[finite], k)


def _top_of(rows: I64, vals: F64, k: int) -> I64:
    """The ``k`` of ascending ``rows`` with the largest ``vals``, best first (ties: smaller)."""
    if len(rows) == 0:
        return np.zeros(0, np.int64)
    k = min(k, len(rows))
    part = np.argpartition(-vals, k - 1)[:k] if k < len(vals) else np.arange(len(vals))
    order = np.lexsort((rows[part], -vals[part]))
    return rows[part][order].astype(np.int64)
