"""Candidates and blended scores for a group of users at once, as flat ``(user, row)`` arrays.

The same numbers as scoring each user alone (:meth:`streams.core.recommender.Recommender.
score_users` restricted to the candidates): every per-user reduction (co-visitation sums and
their best source, maxima, ``unique``) becomes one over keys ``user · n + row``, which keeps
each user's elements in the same order. Candidates of a user: the co-visitation neighbours of
its recent items, its ``semantic_candidates`` nearest items, the trending items and the most
popular items of its two strongest category nodes; minus its exclusions.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from state.catalog import Catalog
from state.item_index import row_products
from state.kernels import find_sorted, first_argmax, sorted_unique, top_within, unique_inverse
from state.scoring import blend, level_mean
from state.signals import Signals
from streams.core.params import EngineParams
from streams.core.views import GroupViews

__all__ = ["Scored", "Semantic", "exact_semantic", "indexed_semantic", "score_candidates"]

F64 = npt.NDArray[np.float64]
F32 = npt.NDArray[np.float32]
I64 = npt.NDArray[np.int64]
B = npt.NDArray[np.bool_]


@dataclass(frozen=True, slots=True)
class Scored:
    """The candidates of every user, by (user, row); :meth:`ranking` ranks them."""

    user: I64
    row: I64
    score: F64
    x: F64
    """``(4, m)`` normalised signals in :data:`state.scoring.SIGNALS` order."""
    best: I64
    """The recent item (row) that co-visitation credits most; ``-1``: none."""
    seg: I64
    """User ``u``'s candidates are ``seg[u]:seg[u+1]``."""

    def ranking(self, depth: int, whole: B | None = None) -> tuple[I64, I64]:
        """``(positions, bounds)``: each user's ranking by (score desc, row), at least its
        first ``depth`` places (all of it when shorter or ``whole[u]``); user ``u``'s are
        ``positions[bounds[u]:bounds[u+1]]`` (:func:`state.kernels.top_within`)."""
        return top_within(self.score, self.seg, depth, whole)


def _covis(v: GroupViews, signals: Signals, n: int, ok: B, beta: float) -> tuple[I64, F64, I64]:
    """``(keys, raw score, best source row)`` of the co-visitation neighbours (recommendable)."""
    cv = signals.covis
    cv.grow(n)
    if len(v.recent_row) == 0:
        return np.zeros(0, np.int64), np.zeros(0), np.zeros(0, np.int64)
    nbr, w = cv.neighbors(v.recent_row)
    has = np.flatnonzero(nbr >= 0)
    src_norm = np.power(np.maximum(cv.degree(v.recent_row), 1e-300), 1.0 - beta)
    # of the neighbours only (not of the catalog: per call); -1 slots are dropped below
    dst_norm = np.power(np.maximum(cv.deg[:n][nbr], 1e-300), beta)
    # elementwise over (recent, neighbour), then the real neighbours in row-major order
    contrib = (v.rho[:, None] * w / src_norm[:, None] / dst_norm).reshape(-1)[has]
    pair = (v.recent_user[:, None] * n + nbr).reshape(-1)[has]
    keys, inv = unique_inverse(pair, (len(v.theta) * n) or 1)
    score = np.bincount(inv, weights=contrib, minlength=len(keys)).astype(np.float64)
    best = v.recent_row[has[first_argmax(inv, contrib, len(keys))] // nbr.shape[1]]
    keep = ok[keys % n]
    return keys[keep], score[keep], best[keep]


@dataclass(frozen=True, slots=True)
class Semantic:
    """The similarities of a group's θ to the catalog: every row (exact), or each user's
    nearest rows from :class:`state.item_index.ItemIndex` (large catalogs)."""

    keys: I64
    """``user · n + row`` of each user's semantic candidates."""
    best: F64
    """Each user's largest similarity to a recommendable row (``0``: none)."""
    theta: F32
    matrix: F32
    dense: F32 | None = None
    """``(C, n)``: every similarity (the exact path), or ``None``."""
    sims: F64 | None = None
    """The similarities of :attr:`keys` (the index path: re-scored exactly), or ``None``."""

    def at(self, user: I64, row: I64, keys: I64) -> F64:
        """θ_user · v_row for candidate ``keys`` (ascending, so grouped by user)."""
        if self.dense is not None:  # float32 products widened: exact, order kept
            return self.dense.reshape(-1)[keys].astype(np.float64)
        out = np.empty(len(keys))
        todo = np.ones(len(keys), np.bool_)
        if self.sims is not None:  # the semantic candidates: known
            pos, hit = find_sorted(self.keys, keys)
            out[hit] = self.sims[pos[hit]]
            todo = ~hit
        rest = np.flatnonzero(todo)
        if len(rest):  # the others, each user's padded to one width: one call for all
            u = user[rest]
            seg = np.searchsorted(u, np.arange(len(self.theta) + 1))
            at = np.arange(len(rest)) - seg[u]
            rows = np.full((len(self.theta), int(np.diff(seg).max())), -1, np.int64)
            rows[u, at] = row[rest]
            out[rest] = row_products(self.theta, self.matrix, rows)[u, at]
        return out


def exact_semantic(theta: F32, matrix: F32, ok: B, k: int) -> Semantic:
    """:class:`Semantic` from every similarity: each user's ``k`` nearest recommendable rows.

    On the float32 similarities themselves: widening to float64 is exact and keeps the order.
    """
    sem = theta @ matrix.T
    c, n = sem.shape
    rows = np.flatnonzero(ok)
    if len(rows) == 0:
        return Semantic(np.zeros(0, np.int64), np.zeros(c), theta, matrix, sem)
    vals = sem if len(rows) == n else sem[:, rows]
    k = min(k, len(rows))
    if k < len(rows):
        top = rows[np.argpartition(-vals, k - 1, axis=1)[:, :k]]
    else:
        top = np.broadcast_to(rows, (c, len(rows)))
    keys = (np.arange(c, dtype=np.int64)[:, None] * n + top).reshape(-1)
    return Semantic(keys, vals.max(axis=1).astype(np.float64), theta, matrix, sem)


def indexed_semantic(theta: F32, matrix: F32, rows: I64, sims: F32, n: int) -> Semantic:
    """:class:`Semantic` from an index's answer: ``rows``/``sims`` ``(C, k)``, best first,
    ``-1`` padded."""
    valid = rows >= 0
    keys = (np.arange(len(rows), dtype=np.int64)[:, None] * n + rows)[valid]
    best = np.where(valid[:, 0], sims[:, 0], 0.0).astype(np.float64) if rows.shape[1] else None
    order = np.argsort(keys)
    return Semantic(
        keys[order],
        np.zeros(len(rows)) if best is None else best,
        theta,
        matrix,
        sims=sims[valid][order].astype(np.float64),
    )


def score_candidates(
    v: GroupViews,
    sem: Semantic,
    *,
    catalog: Catalog,
    signals: Signals,
    params: EngineParams,
    trend: F64,
    trend_top: I64,
    category_rows: Callable[[int], I64],
) -> Scored:
    """Score every user's candidates (``sem``: their similarities to θ)."""
    rp = params.recommend
    n, c = len(catalog), len(sem.theta)
    ok = catalog.recommendable()
    c_keys, c_score, c_best = _covis(v, signals, n, ok, params.covis.popularity_exponent)
    s_keys, sem_max = sem.keys, sem.best
    users = np.arange(c, dtype=np.int64)
    parts = [c_keys, s_keys, (users[:, None] * n + trend_top).reshape(-1)]
    parts += _category_keys(v.shares, n, category_rows)
    keys = sorted_unique(np.concatenate(parts), c * n)
    if len(v.excluded_row):
        pos, hit = find_sorted(keys, v.excluded_user * n + v.excluded_row)
        keys = np.delete(keys, pos[hit])
    user, row = np.divmod(keys, n)
    covis_x = np.zeros(len(keys))
    best = np.full(len(keys), -1, np.int64)
    if len(c_keys):
        at, there = find_sorted(keys, c_keys)
        covis_x[at[there]] = c_score[there]
        best[at[there]] = c_best[there]
        c_max = np.zeros(c)
        np.maximum.at(c_max, c_keys // n, c_score)
        top = c_max[user]
        covis_x = np.where(top > 0.0, np.maximum(covis_x, 0.0) / np.where(top > 0, top, 1.0), 0.0)
    s_top = sem_max[user]
    sem_x = np.maximum(sem.at(user, row, keys), 0.0)
    sem_x = np.where(s_top > 0.0, sem_x / np.where(s_top > 0.0, s_top, 1.0), 0.0)
    cat = _category(catalog, v.shares, user, row, rp.level_weights)
    x = np.stack([covis_x, sem_x, cat, trend[row]])
    w = params.weights
    score = blend(x, (w.covis, w.semantic, w.category, w.trending))
    return Scored(user, row, score, x, best, np.searchsorted(user, np.arange(c + 1)))


def _category_keys(shares: F64, n: int, category_rows: Callable[[int], I64]) -> list[I64]:
    """Keys of the popular items of each user's two strongest category nodes (share > 0)."""
    top = np.argsort(-shares, axis=1, kind="stable")[:, :2]
    positive = np.take_along_axis(shares, top, axis=1) > 0
    user = np.broadcast_to(np.arange(len(shares))[:, None], top.shape)[positive]
    node = top[positive]
    out: list[I64] = []
    for nd in sorted_unique(node).tolist():
        rows = category_rows(nd)
        out.append((user[node == nd][:, None] * n + rows[None, :]).reshape(-1))
    return out


def _category(catalog: Catalog, shares: F64, user: I64, row: I64, lw: tuple[float, ...]) -> F64:
    """:func:`state.scoring.category_scores` with each candidate's own user's shares.

    Computed once per (user, distinct category path), then looked up per candidate.
    """
    if shares.shape[1] == 0:
        return np.zeros(len(row))
    path_of, paths = catalog.path_table()
    has = paths >= 0
    vals = np.where(has[None], shares[:, np.where(has, paths, 0)], 0.0)
    by_path = level_mean(vals.reshape(-1, paths.shape[1]), lw).reshape(len(shares), len(paths))
    out: F64 = by_path[user, path_of[row]]
    return out
