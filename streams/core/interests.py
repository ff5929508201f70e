"""Apply a batch's events to the users' interests: vectors, categories, item memories.

Exact decay on event time (:mod:`state.decay`): every user is first rebased if the batch's
newest event would overflow the stored sums, then each event adds ``w · 2^((t − t_ref)/h)``
times its item vector (plus ``text_weight`` times its text vector) to the short and long sums,
and the same amounts to every category node of its item's path. Vectors: one gather for the
batch, then one small ``(2, n_u) @ (n_u, dim)`` product per user (cheaper than a
``reduceat`` over the whole batch). Rebase factors are computed for all users at once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import islice

import numpy as np
import numpy.typing as npt

from state.catalog import Catalog
from state.decay import new_reference, rebase_factor
from state.kernels import unique_inverse
from state.user import UserState
from streams.core.arrays import EventArrays
from streams.core.params import EngineParams

__all__ = ["Contributions", "apply_interests", "apply_memories", "contributions"]

F64 = npt.NDArray[np.float64]
F32 = npt.NDArray[np.float32]
I64 = npt.NDArray[np.int64]


@dataclass(frozen=True, slots=True)
class Contributions:
    """Per-event stored amounts and the users' sums before the batch (for drift)."""

    short: F64
    long: F64
    rows: I64
    """Each event's catalog row (``-1``: none: no item vector)."""
    text: I64
    """Each event's row in :attr:`texts` (``-1``: no text)."""
    texts: F32
    """The batch's text vectors (by text row), unweighted."""
    text_weight: np.float32
    item_vectors: F32
    """The catalog's vectors (by row)."""
    short_before: F64
    long_before: F64
    watermark: I64
    """Each user's newest event time after the batch."""

    def vectors(self, events: slice | I64) -> F32:
        """The vectors of ``events`` (a slice or positions): item vector (zero: none) plus
        ``text_weight`` × text vector (float32 throughout)."""
        rows = self.rows[events]
        out = self.item_vectors[np.where(rows >= 0, rows, 0)]
        out[rows < 0] = 0.0
        text = self.text[events]
        has = text >= 0
        if has.any():
            out[has] += self.text_weight * self.texts[text[has]]
        return out


def contributions(
    ea: EventArrays,
    states: Sequence[UserState],
    catalog: Catalog,
    texts: F32,
    params: EngineParams,
) -> Contributions:
    """Rebase where needed (values unchanged), then each event's stored amounts.

    The users' vectors are rebased here in bulk, in :attr:`Contributions.short_before` /
    ``long_before`` only: :func:`apply_interests` (which must follow) stores them.
    """
    dp = params.decay
    starts = ea.seg[:-1]
    wm_old = np.fromiter((s.watermark for s in states), np.int64, len(states))
    ref_old = np.fromiter((s.t_ref for s in states), np.int64, len(states))
    wm = np.maximum(np.maximum.reduceat(ea.ts, starts), wm_old)
    ref = new_reference(ref_old, wm, dp.short_half_life_ms, dp.rebase_exponent)
    s0 = np.stack([s.short for s in states])
    l0 = np.stack([s.long for s in states])
    moved = np.flatnonzero(ref != ref_old)
    if len(moved):
        fs = rebase_factor(ref_old[moved], ref[moved], dp.short_half_life_ms)
        fl = rebase_factor(ref_old[moved], ref[moved], dp.long_half_life_ms)
        s0[moved] *= fs[:, None]  # the vectors in bulk; apply_interests stores them
        l0[moved] *= fl[:, None]
        for u, new_ref, f_short, f_long in zip(
            moved.tolist(), ref[moved].tolist(), fs.tolist(), fl.tolist(), strict=True
        ):
            states[u].rescale_categories(new_ref, f_short, f_long)
    dt = (ea.ts - ref[ea.user]).astype(np.float64)
    gs = ea.weight * np.exp2(dt / dp.short_half_life_ms)
    gl = ea.weight * np.exp2(dt / dp.long_half_life_ms)
    return Contributions(
        gs,
        gl,
        ea.row,
        ea.text,
        texts,
        np.float32(params.text_weight),
        catalog.vectors,
        s0,
        l0,
        wm,
    )


def apply_interests(
    ea: EventArrays,
    states: Sequence[UserState],
    catalog: Catalog,
    c: Contributions,
    params: EngineParams,
) -> None:
    """Add the contributions to each user's vectors and category sums (mutates ``states``).

    Consumes ``c``: its before-sums are updated in place into the sums after the batch (the
    last reader of the before-sums, drift detection, runs first).
    """
    short, long = _sums(ea, c)
    for st, s_row, l_row in zip(states, short, long, strict=True):
        st.short = s_row.copy()  # own arrays: a view would keep the whole batch's matrix alive
        st.long = l_row.copy()
    _apply_categories(
        ea, states, catalog, c.short, c.long, max_categories=params.limits.max_categories
    )


def _sums(ea: EventArrays, c: Contributions) -> tuple[F64, F64]:
    """Each user's short and long vector sums after the batch.

    Σ_events w·(item vector + weighted text vector), as Σ over the user's distinct items of
    (Σ w)·item vector for the events without text (a user's events repeat items: view,
    click, purchase) plus w·(its own vector, :meth:`Contributions.vectors`) per event with
    text. The terms are ordered by (the user's number of terms, user), so the users with
    ``m`` terms are one contiguous block: one ``(G, 2, m) @ (G, m, dim)`` product, float64.
    """
    n_users = ea.n_users
    has_text = c.text >= 0
    plain = (c.rows >= 0) & ~has_text
    span = max(len(c.item_vectors), 1)
    keys, inv = unique_inverse(ea.user[plain] * span + c.rows[plain], n_users * span)
    text = np.flatnonzero(has_text)
    term_user = np.concatenate([keys // span, ea.user[text]])
    term_row = np.concatenate([keys % span, c.rows[text]])
    term_ws = np.concatenate([np.bincount(inv, c.short[plain], len(keys)), c.short[text]])
    term_wl = np.concatenate([np.bincount(inv, c.long[plain], len(keys)), c.long[text]])
    counts = np.bincount(term_user, minlength=n_users)
    order = np.lexsort((term_user, counts[term_user]))
    rows = term_row[order]
    vec = c.item_vectors[np.where(rows >= 0, rows, 0)].astype(np.float64)
    vec[rows < 0] = 0.0
    if len(text):  # text terms come after the item terms: their positions in ``order``
        at = np.flatnonzero(order >= len(keys))
        vec[at] = c.vectors(text[order[at] - len(keys)])  # float32, exactly as drift sees it
    ws, wl, users = term_ws[order], term_wl[order], term_user[order]
    short, long = c.short_before, c.long_before  # consumed: they become the sums after
    dim = vec.shape[1]
    pos = 0
    for m, g in zip(*np.unique(counts[counts > 0], return_counts=True), strict=True):
        end = pos + int(m) * int(g)
        w = np.stack([ws[pos:end].reshape(g, m), wl[pos:end].reshape(g, m)], axis=1)
        d = w @ vec[pos:end].reshape(g, m, dim)
        us = users[pos:end:m]
        short[us] += d[:, 0]
        long[us] += d[:, 1]
        pos = end
    return short, long


def _apply_categories(
    ea: EventArrays,
    states: Sequence[UserState],
    catalog: Catalog,
    gs: F64,
    gl: F64,
    *,
    max_categories: int,
) -> None:
    rows = np.where(ea.row >= 0, ea.row, 0)
    nodes = catalog.nodes[rows]
    nodes[ea.row < 0] = -1
    n_nodes = max(len(catalog.categories), 1)
    depth_of = np.arange(nodes.shape[1], dtype=np.int64)
    ev, level = np.nonzero(nodes >= 0)
    if len(ev) == 0:
        return
    key = (ea.user[ev] * n_nodes + nodes[ev, level]) * nodes.shape[1] + depth_of[level]
    ukey, inv = np.unique(key, return_inverse=True)
    s = np.bincount(inv, weights=gs[ev], minlength=len(ukey))
    lw = np.bincount(inv, weights=gl[ev], minlength=len(ukey))
    depth = ukey % nodes.shape[1] + 1
    rest = ukey // nodes.shape[1]
    users, node = rest // n_nodes, rest % n_nodes
    names = catalog.categories.names
    node_names = [names[nd] for nd in node.tolist()]
    dl, sl, ll = depth.tolist(), s.tolist(), lw.tolist()
    bounds = np.flatnonzero(np.diff(users)) + 1
    starts = [0, *bounds.tolist()]
    ends = [*bounds.tolist(), len(users)]
    for u, a, b in zip(users[starts].tolist(), starts, ends, strict=True):
        st = states[u]
        # UserState.add_category for each of the user's (node, depth), in key order
        cats = st.categories
        while len(cats) < max(dl[a:b]):
            cats.append({})
        added = False
        for i in range(a, b):
            level = cats[dl[i] - 1]
            pair = level.get(node_names[i])
            if pair is None:
                level[node_names[i]] = [sl[i], ll[i]]
                added = True
            else:
                pair[0] += sl[i]
                pair[1] += ll[i]
        # pruned to the bound after every batch: only new nodes can take a user over it
        if added and sum(map(len, cats)) > max_categories:
            st.prune_categories(max_categories)


def apply_memories(
    ea: EventArrays, states: Sequence[UserState], catalog: Catalog, params: EngineParams
) -> None:
    """Recent items, consumed and disliked items, watermark and event count per user."""
    limits = params.limits
    ids = catalog.ids
    seg = ea.seg.tolist()
    starts = ea.seg[:-1]
    newest = np.maximum.reduceat(ea.ts, starts).tolist()
    liked = (np.minimum.reduceat(ea.weight, starts) > 0.0).tolist()
    ts, collab, weight = ea.ts.tolist(), ea.collab.tolist(), ea.weight.tolist()
    names = [ids[r] if r >= 0 else "" for r in ea.row.tolist()]
    max_recent = limits.max_recent
    for u, st in enumerate(states):
        a, b = seg[u], seg[u + 1]
        items = names[a:b]
        st.recent_items.extend(items)
        st.recent_ts.extend(ts[a:b])
        st.recent_w.extend(collab[a:b])
        if len(st.recent_items) > max_recent:
            del st.recent_items[:-max_recent]
            del st.recent_ts[:-max_recent]
            del st.recent_w[:-max_recent]
        if liked[u]:  # every event positive (the common case): all consumed, in order
            st.consumed.update(dict.fromkeys(items))
        else:
            for item, w in zip(items, weight[a:b], strict=True):
                if w > 0.0:
                    st.consumed[item] = None
                elif w < 0.0:
                    st.disliked[item] = None
        _bound(st.consumed, limits.max_consumed)
        _bound(st.disliked, limits.max_disliked)
        st.n_events += b - a
        st.watermark = max(st.watermark, newest[u])


def _bound(memory: dict[str, None], limit: int) -> None:
    excess = len(memory) - limit
    if excess > 0:
        for key in list(islice(memory, excess)):
            del memory[key]
