"""Scoring: the per-user signals of items, normalised to ``[0, 1]``, and their blend.

Every signal is made scale-free per user, the same way whether the items scored are a
candidate set or the whole catalog, so a recommendation is the full-catalog ranking
restricted to the candidates:

* ``covis``: ``Σ_j ρ_j · W(r_j, i) / (deg(r_j)^(1−β) · deg(i)^β)`` over the user's recent items
  ``r_j`` (recency weights ``ρ``), divided by its maximum over all the neighbours of those items;
* ``semantic``: ``max(0, cos(θ, v_i))`` divided by its maximum over the catalog;
* ``category``: ``Σ_level λ_level · share(node_level(i)) / Σ λ`` with blended short/long shares;
* ``trending``: popularity divided by the most popular item's.

>>> blend(np.array([[1.0, 0.0], [0.5, 1.0], [0.0, 0.0], [0.0, 0.0]]), (1.0, 0.5, 0.0, 0.0))
array([1.25, 0.5 ])
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

__all__ = ["SIGNALS", "blend", "category_scores", "covis_scores", "level_mean", "normalise_max"]

F64 = npt.NDArray[np.float64]
F32 = npt.NDArray[np.float32]
I64 = npt.NDArray[np.int64]
I32 = npt.NDArray[np.int32]

SIGNALS = ("covis", "semantic", "category", "trending")
"""The order of the rows of a signal matrix and of the weights."""


def normalise_max(x: F64, top: float) -> F64:
    """``max(x, 0) / top`` (zeros when ``top <= 0``)."""
    if top <= 0.0:
        return np.zeros_like(x)
    return np.maximum(x, 0.0) / top


def covis_scores(
    nbr: I32, w: F64, rho: F64, *, deg_src: F64, deg: F64, beta: float
) -> tuple[I64, F64, I64]:
    """Co-visitation mass of every neighbour of the recent items.

    ``nbr``/``w``: ``(R, M)`` neighbour rows and weights of the ``R`` recent items, ``rho``
    their recency weights, ``deg_src`` their degrees, ``deg`` the degree of every row.
    Returns ``(rows, score, best)``: the distinct neighbour rows, their raw score and, for each,
    the index of the recent item that contributed most.
    """
    ok = nbr >= 0
    if not ok.any():
        return np.zeros(0, np.int64), np.zeros(0), np.zeros(0, np.int64)
    src = np.broadcast_to(np.arange(nbr.shape[0])[:, None], nbr.shape)[ok]
    dst = nbr[ok].astype(np.int64)
    src_norm = np.power(np.maximum(deg_src, 1e-300), 1.0 - beta)
    contrib = rho[src] * w[ok] / src_norm[src] / np.power(np.maximum(deg[dst], 1e-300), beta)
    rows, inv = np.unique(dst, return_inverse=True)
    score: F64 = np.bincount(inv, weights=contrib, minlength=len(rows)).astype(np.float64)
    order = np.lexsort((-contrib, inv))
    first = np.searchsorted(inv[order], np.arange(len(rows)))
    best: I64 = src[order][first].astype(np.int64)
    return rows.astype(np.int64), score, best


def category_scores(nodes: I32, shares: F64, level_weights: Sequence[float]) -> F64:
    """``Σ_level λ_level · shares[node]`` / ``Σ λ`` for rows' ``(n, depth)`` node ids."""
    if len(shares) == 0:
        return np.zeros(nodes.shape[0])
    has = nodes >= 0
    return level_mean(np.where(has, shares[np.where(has, nodes, 0)], 0.0), level_weights)


def level_mean(vals: F64, level_weights: Sequence[float]) -> F64:
    """``Σ_level λ_level · vals[:, level]`` / ``Σ λ`` for gathered ``(n, depth)`` shares.

    The last weight repeats for deeper levels; zeros when the weights sum to zero.
    """
    depth = vals.shape[1]
    lam = np.array([level_weights[min(d, len(level_weights) - 1)] for d in range(depth)])
    total = float(lam.sum())
    if total <= 0.0:
        return np.zeros(vals.shape[0])
    out: F64 = (vals * lam).sum(axis=1) / total
    return out


def blend(signals: F64, weights: Sequence[float]) -> F64:
    """``weights · signals``: ``signals`` is ``(4, n)`` in :data:`SIGNALS` order."""
    return np.asarray(weights, np.float64) @ signals
