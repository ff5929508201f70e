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
from state.diversity import category_cap, mmr
from state.scoring import blend, category_scores, covis_scores, normalise_max
from state.signals import Signals
from state.user import UserState
from streams.core.outputs import Interest, RecItem, Recommendation
from streams.core.params import EngineParams

__all__ = ["Recommender", "UserView"]

F64 = npt.NDArray[np.float64]
F32 = npt.NDArray[np.float32]
I64 = npt.NDArray[np.int64]

_CHUNK = 256


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

    def view(self, st: UserState) -> UserView:
        """The scoring view of ``st`` (recency weights are relative to its newest event)."""
        rp, cat = self.params.recommend, self.catalog
        a = rp.alpha
        theta = (a * _unit(st.short) + (1.0 - a) * _unit(st.long)).astype(np.float32)
        k = min(rp.recent_items, len(st.recent_items))
        index = cat.index
        rows = np.fromiter((index.get(i, -1) for i in st.recent_items[-k:]), np.int64, k)
        ts = np.asarray(st.recent_ts[-k:], np.float64)
        pos = np.power(rp.recent_position_decay, np.arange(k)[::-1])
        age = np.exp2(-(st.watermark - ts) / self.params.decay.short_half_life_ms)
        rho = np.asarray(st.recent_w[-k:], np.float64) * pos * age
        ok = rows >= 0
        shares = np.zeros(len(cat.categories))
        for depth in range(1, len(st.categories) + 1):
            s = st.category_shares(False, depth)
            lt = st.category_shares(True, depth)
            for name in s.keys() | lt.keys():
                node = cat.categories.get(name)
                if node is not None:
                    shares[node] = a * s.get(name, 0.0) + (1.0 - a) * lt.get(name, 0.0)
        excluded: list[int] = []
        if rp.exclude_consumed:
            excluded += [r for i in st.consumed if (r := index.get(i, -1)) >= 0]
        if rp.exclude_disliked:
            excluded += [r for i in st.disliked if (r := index.get(i, -1)) >= 0]
        return UserView(theta, rows[ok], rho[ok], shares, np.asarray(excluded, np.int64))

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
            pos = np.searchsorted(c_rows, rows)
            hit = (pos < len(c_rows)) & (c_rows[np.minimum(pos, len(c_rows) - 1)] == rows)
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
        """One recommendation per user (``None`` state: a cold user, trending only)."""
        out: list[Recommendation] = []
        rp = self.params.recommend
        n = len(self.catalog)
        ok = self.catalog.recommendable()
        trend = self.signals.trending.scores(n)
        trend_top = _top_rows(np.where(ok, trend, -np.inf), rp.trending_candidates)
        cat_cache: dict[int, I64] = {}
        mat = self.catalog.matrix()
        for c0 in range(0, len(states), _CHUNK):
            chunk = states[c0 : c0 + _CHUNK]
            views = [None if s is None or s.n_events == 0 else self.view(s) for s in chunk]
            warm = [i for i, v in enumerate(views) if v is not None]
            sem_all = np.zeros((len(chunk), n), np.float32)
            if warm and n:
                thetas = np.stack([views[i].theta for i in warm])  # type: ignore[union-attr]
                sem_all[warm] = thetas @ mat.T
            for i, v in enumerate(views):
                uid, t = user_ids[c0 + i], ts[c0 + i]
                if v is None:
                    top = trend_top[: rp.k]
                    items = tuple(
                        RecItem(
                            self.catalog.ids[r], float(self.weights[3] * trend[r]), ("trending",)
                        )
                        for r in top.tolist()
                    )
                    out.append(Recommendation(uid, t, items, ()))
                    continue
                state = chunk[i]
                assert state is not None
                out.append(
                    self._one(
                        state,
                        v,
                        uid,
                        t,
                        sem_row=sem_all[i],
                        ok=ok,
                        trend_top=trend_top,
                        cat_cache=cat_cache,
                    )
                )
        return out

    def _category_rows(self, node: int, cache: dict[int, I64], ok: npt.NDArray[np.bool_]) -> I64:
        rows = cache.get(node)
        if rows is None:
            cat = self.catalog
            depth = cat.categories.depth(node)
            n = len(cat)
            inside = (cat.nodes[:n, depth - 1] == node) & ok
            pop = self.signals.trending.scores(n)
            rows = _top_rows(
                np.where(inside, pop, -np.inf), self.params.recommend.category_candidates
            )
            cache[node] = rows
        return rows

    def _one(
        self,
        st: UserState,
        v: UserView,
        uid: str,
        t: int,
        *,
        sem_row: F32,
        ok: npt.NDArray[np.bool_],
        trend_top: I64,
        cat_cache: dict[int, I64],
    ) -> Recommendation:
        rp, cat = self.params.recommend, self.catalog
        sem = np.where(ok, sem_row.astype(np.float64), -np.inf)
        sem_top = _top_rows(sem, rp.semantic_candidates)
        sem_max = float(sem[sem_top[0]]) if len(sem_top) else 0.0
        covis = self._covis(v)
        leaves = [int(x) for x in np.argsort(-v.shares, kind="stable")[:2] if v.shares[x] > 0]
        parts = [covis[0], sem_top, trend_top]
        parts += [self._category_rows(nd, cat_cache, ok) for nd in leaves]
        cands = np.unique(np.concatenate(parts))
        if len(v.excluded):
            cands = cands[~np.isin(cands, v.excluded)]
        x, best = self._signals(
            v, cands, np.maximum(sem_row[cands].astype(np.float64), 0.0), sem_max, covis
        )
        score = blend(x, self.weights)
        order = np.lexsort((cands, -score))
        if rp.diversity == "category_cap":
            pick = category_cap(order, cat.leaf(cands).astype(np.int64), rp.category_cap, rp.k)
        elif rp.diversity == "mmr":
            head = order[: max(rp.k * 5, 50)]
            rel = score[head] / max(float(score[head].max()), 1e-12)
            pick = head[mmr(rel, cat.vectors[cands[head]], rp.k, rp.mmr_lambda)]
        else:
            pick = order[: rp.k]
        items = tuple(
            RecItem(
                cat.ids[int(cands[j])],
                float(score[j]),
                self._reasons(v, x[:, j], int(cands[j]), int(best[j]), float(score[j])),
            )
            for j in pick.tolist()
        )
        return Recommendation(uid, t, items, self.interests(st))

    def _reasons(self, v: UserView, x: F64, row: int, best: int, score: float) -> tuple[str, ...]:
        contrib = np.asarray(self.weights) * x
        cut = self.params.recommend.reason_share * score
        out: list[tuple[float, str]] = []
        if contrib[0] > 0 and contrib[0] >= cut and best >= 0:
            out.append((contrib[0], f"covis:{self.catalog.ids[int(v.recent[best])]}"))
        if contrib[1] > 0 and contrib[1] >= cut:
            out.append((contrib[1], "similar_to_interests"))
        if contrib[2] > 0 and contrib[2] >= cut:
            nodes = [int(n) for n in self.catalog.nodes[row] if n >= 0 and v.shares[n] > 0]
            if nodes:
                out.append((contrib[2], f"category:{self.catalog.categories.name(nodes[-1])}"))
        if contrib[3] > 0 and contrib[3] >= cut:
            out.append((contrib[3], "trending"))
        if not out:
            i = int(np.argmax(contrib))
            out.append((1.0, ("covis", "similar_to_interests", "category", "trending")[i]))
        return tuple(r for _, r in sorted(out, key=lambda p: -p[0]))

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
    if len(finite) == 0:
        return np.zeros(0, np.int64)
    k = min(k, len(finite))
    vals = scores[finite]
    part = np.argpartition(-vals, k - 1)[:k] if k < len(vals) else np.arange(len(vals))
    order = np.lexsort((finite[part], -vals[part]))
    return finite[part][order].astype(np.int64)
