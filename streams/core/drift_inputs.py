"""The per-event numbers the drift state machine reads, for a whole batch in numpy.

Per applied event: its category column at ``drift.level``, the user's long-term category
profile after it (a per-user prefix sum of the stored amounts; each user's terms scaled to
order one, and long-term amounts vary little within a batch, so the shared ``cumsum`` keeps
~1e-13 relative precision), the profile's positive total, the event's own long-term amount
(what a window holding it removes from the profile), and the user's distinct consumed items.
And which events open a streak on their own: :func:`state.drift.assess` of the one-event
window, vectorised with the same arithmetic, so skipping users without such an event and
without a running streak changes nothing.

Everything is read from the state as it was before the batch (profile sums, consumed items,
the running streak's earlier events in the recent-item memory), so call this before
``apply_interests``/``apply_memories``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from state.catalog import Catalog
from state.drift import DriftRule
from state.user import UserState
from streams.core.arrays import EventArrays
from streams.core.interests import Contributions
from streams.core.params import EngineParams

__all__ = ["DriftInputs", "Removal", "nodes_at", "prepare_inputs", "streak_memory"]

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
B = npt.NDArray[np.bool_]


@dataclass(frozen=True, slots=True)
class DriftInputs:
    """Per-event columns (lists: fast scalar reads in the per-user loop)."""

    names: list[str]
    """Category name of each profile column."""
    vocab: dict[str, int]
    col: list[int]
    profile: F64
    """``(n, len(names))``: long-term mass per column after each event, × its user's scale."""
    total: list[float]
    removal: list[float]
    consumed: list[int]
    items: list[str]
    ts: list[int]
    collab: list[float]
    scale: F64
    """Per user: the factor the profile (and every removal) is multiplied by."""
    opens: B
    """Per event: the one-event window scores 1 (its category is new on its own)."""


class Removal:
    """An event's long-term amount from what the memory keeps: its collaborative weight.

    The collaborative weight is a constant of the event type, so it names the type; the
    amount is the largest ``|weight|`` among the types sharing it (exact unless the type
    scales by ``value``; never too small). A weight no type has (the config changed) falls
    back to the largest ``|weight| / collab`` ratio. Types with ``collab == 0`` remove nothing.
    """

    def __init__(self, params: EngineParams) -> None:
        table: dict[float, float] = {}
        for t in params.event_types.values():
            if t.collab > 0.0:
                table[t.collab] = max(table.get(t.collab, 0.0), abs(t.weight))
        keys = sorted(table)
        self._keys = np.array(keys, np.float64)
        self._vals = np.array([table[k] for k in keys], np.float64)
        self._ratio = max([1.0, *(table[k] / k for k in keys)])

    def __call__(self, collab: F64, growth: F64, scale: F64 | float) -> F64:
        """``interest weight · growth · scale`` per event."""
        if len(self._keys) == 0:
            return np.zeros(len(collab))
        at = np.minimum(np.searchsorted(self._keys, collab), len(self._keys) - 1)
        weight = np.where(self._keys[at] == collab, self._vals[at], self._ratio * collab)
        out: F64 = np.where(collab > 0.0, weight, 0.0) * growth * scale
        return out


def nodes_at(catalog: Catalog, rows: I64, level: int) -> I64:
    """The level-``level`` category node of each row (``-1``: none or unknown row)."""
    if level > catalog.max_depth or len(rows) == 0:
        return np.full(len(rows), -1, np.int64)
    nodes = catalog.nodes[np.maximum(rows, 0), level - 1].astype(np.int64)
    out: I64 = np.where(rows >= 0, nodes, -1)
    return out


def streak_memory(st: UserState, rule: DriftRule) -> tuple[list[str], list[int], list[float]]:
    """The running streak's events before the batch (at most ``window - 1``), oldest first:
    items, times, collaborative weights."""
    k = min(st.drift.streak, rule.window - 1, len(st.recent_items))
    if k <= 0:
        return [], [], []
    return st.recent_items[-k:], st.recent_ts[-k:], st.recent_w[-k:]


def _vocabulary(
    ea: EventArrays, states: Sequence[UserState], catalog: Catalog, level: int, rule: DriftRule
) -> tuple[dict[str, int], I64]:
    """Names of the batch's events, the profiles and the streak memories; event columns."""
    name = catalog.categories.name
    ev_node = nodes_at(catalog, ea.row, level)
    uniq = np.unique(ev_node[ev_node >= 0])
    vocab = {name(nd): k for k, nd in enumerate(uniq.tolist())}
    for st in states:
        if len(st.categories) >= level:
            for cat in st.categories[level - 1]:
                vocab.setdefault(cat, len(vocab))
        items = streak_memory(st, rule)[0]
        if items:
            rows = np.array([catalog.index.get(it, -1) for it in items], np.int64)
            for nd in nodes_at(catalog, rows, level).tolist():
                if nd >= 0:
                    vocab.setdefault(name(nd), len(vocab))
    lut = np.full(max(len(catalog.categories), 1), -1, np.int64)
    lut[uniq] = np.arange(len(uniq))
    col: I64 = np.where(ev_node >= 0, lut[np.maximum(ev_node, 0)], -1)
    return vocab, col


def _profile(
    ea: EventArrays,
    states: Sequence[UserState],
    vocab: dict[str, int],
    col: I64,
    *,
    gain: F64,
    level: int,
) -> tuple[F64, F64]:
    """Each event's long-term masses per column (× its user's scale), and the scales."""
    width = max(len(vocab), 1)
    before = np.zeros((len(states), width))
    for u, st in enumerate(states):
        if len(st.categories) >= level:
            for cat, pair in st.categories[level - 1].items():
                before[u, vocab[cat]] = pair[1]
    one_hot = np.zeros((ea.n, width))
    has = np.flatnonzero(col >= 0)
    one_hot[has, col[has]] = 1.0
    starts = ea.seg[:-1]
    peak = np.maximum.reduceat(np.abs(gain), starts)
    scale: F64 = 1.0 / np.where(peak > 0.0, peak, 1.0)
    terms = (gain * scale[ea.user])[:, None] * one_hot
    cum = np.cumsum(terms, axis=0)
    base = cum[starts] - terms[starts]
    profile: F64 = (before * scale[:, None])[ea.user] + cum - base[ea.user]
    return profile, scale


def _consumed(ea: EventArrays, states: Sequence[UserState], catalog: Catalog, need: int) -> I64:
    """Distinct consumed items after each event, as ``apply_memories`` will record them:
    exact for users below ``need`` before the batch, else ``need`` (enough for the
    eligibility test: a window holds at most ``window`` items, ``need = min_history + window``).
    """
    out = np.full(ea.n, need, np.int64)
    ids, rows, weight, seg = catalog.ids, ea.row.tolist(), ea.weight.tolist(), ea.seg.tolist()
    for u, st in enumerate(states):
        if len(st.consumed) >= need:
            continue
        seen: set[str] = set()
        count = len(st.consumed)
        for i in range(seg[u], seg[u + 1]):
            item = ids[rows[i]] if rows[i] >= 0 else ""
            if weight[i] > 0.0 and item not in st.consumed and item not in seen:
                seen.add(item)
                count += 1
            out[i] = count
    return out


def prepare_inputs(
    ea: EventArrays,
    states: Sequence[UserState],
    catalog: Catalog,
    c: Contributions,
    *,
    params: EngineParams,
    rule: DriftRule,
) -> DriftInputs:
    """The per-event columns of the batch (``states`` rebased by ``contributions``)."""
    level = params.drift.level
    vocab, col = _vocabulary(ea, states, catalog, level, rule)
    profile, scale = _profile(ea, states, vocab, col, gain=c.long, level=level)
    total = np.maximum(profile, 0.0).sum(axis=1)
    t_ref = np.fromiter((s.t_ref for s in states), np.int64, len(states))
    dt = (ea.ts - t_ref[ea.user]).astype(np.float64)
    removal = Removal(params)(
        ea.collab, np.exp2(dt / params.decay.long_half_life_ms), scale[ea.user]
    )
    consumed = _consumed(ea, states, catalog, rule.min_history + rule.window)
    # state.drift.assess() of the one-event window [event], the same operations vectorised:
    has = col >= 0
    mass = np.where(has, profile[np.arange(ea.n), np.maximum(col, 0)], 0.0)
    ref = np.maximum(mass - removal, 0.0)
    ref_total = total - (np.maximum(mass, 0.0) - ref)
    positive = ea.collab > 0.0
    eligible = (consumed - positive >= rule.min_history) & (ref_total > 0.0)
    opens = eligible & has & positive & (ref < rule.rare_share * ref_total)
    ids = catalog.ids
    return DriftInputs(
        names=list(vocab),
        vocab=vocab,
        col=col.tolist(),
        profile=profile,
        total=total.tolist(),
        removal=removal.tolist(),
        consumed=consumed.tolist(),
        items=[ids[r] if r >= 0 else "" for r in ea.row.tolist()],
        ts=ea.ts.tolist(),
        collab=ea.collab.tolist(),
        scale=scale,
        opens=opens,
    )
