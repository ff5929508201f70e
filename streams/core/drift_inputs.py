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

__all__ = [
    "DriftInputs",
    "Removal",
    "StreakMemory",
    "nodes_at",
    "prepare_inputs",
    "streak_memory",
]

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
B = npt.NDArray[np.bool_]


@dataclass(frozen=True, slots=True)
class StreakMemory:
    """A running streak's events before the batch (:func:`streak_memory`) as the detector
    sees them, oldest first: the columns of :class:`state.drift.Entry`."""

    items: list[str]
    weights: list[float]
    cols: list[int]
    removals: list[float]
    sessions: list[bool]


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
    running: list[int]
    """Users with a streak or an episode running before the batch (ascending)."""
    memory: dict[int, StreakMemory]
    """Per running user with remembered streak events: those events."""


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


@dataclass(frozen=True, slots=True)
class _Scan:
    """What the detector reads from the states, gathered in one pass."""

    cats: list[dict[str, list[float]] | None]
    """Per user: the stored category sums at the drift level."""
    running: list[int]
    mem_users: list[int]
    """Users with streak memory, and per user its length and (flat) events."""
    mem_len: list[int]
    mem_items: list[str]
    mem_ts: list[int]
    mem_w: list[float]


def _scan(states: Sequence[UserState], level: int, rule: DriftRule) -> _Scan:
    out = _Scan([], [], [], [], [], [], [])
    for u, st in enumerate(states):
        out.cats.append(st.categories[level - 1] if len(st.categories) >= level else None)
        if st.drift.streak > 0 or st.drift.in_episode:
            out.running.append(u)
            items, times, weights = streak_memory(st, rule)
            if items:
                out.mem_users.append(u)
                out.mem_len.append(len(items))
                out.mem_items.extend(items)
                out.mem_ts.extend(times)
                out.mem_w.extend(weights)
    return out


def _vocabulary(
    scan: _Scan, catalog: Catalog, ev_node: I64, mem_node: I64
) -> tuple[dict[str, int], I64]:
    """Names of the batch's events, then of each user's profile and streak memory; and the
    events' distinct nodes (ascending), which are the vocabulary's first columns."""
    name = catalog.categories.name
    uniq = np.unique(ev_node[ev_node >= 0])
    vocab = {name(nd): k for k, nd in enumerate(uniq.tolist())}
    keys = vocab.keys()
    mem_names: dict[int, list[str]] = {}
    at = 0
    for u, k in zip(scan.mem_users, scan.mem_len, strict=True):
        mem_names[u] = [name(nd) for nd in mem_node[at : at + k].tolist() if nd >= 0]
        at += k
    for u, cats in enumerate(scan.cats):
        if cats and not cats.keys() <= keys:
            for cat in cats:
                vocab.setdefault(cat, len(vocab))
        for cat in mem_names.get(u, ()):
            vocab.setdefault(cat, len(vocab))
    return vocab, uniq


def _columns(vocab: dict[str, int], catalog: Catalog, nodes: I64) -> I64:
    """The profile column of each node (``-1``: none)."""
    name = catalog.categories.name
    uniq = np.unique(nodes[nodes >= 0])
    lut = np.full(max(len(catalog.categories), 1), -1, np.int64)
    lut[uniq] = [vocab[name(nd)] for nd in uniq.tolist()]
    out: I64 = np.where(nodes >= 0, lut[np.maximum(nodes, 0)], -1)
    return out


def _profile(
    ea: EventArrays, scan: _Scan, vocab: dict[str, int], col: I64, gain: F64
) -> tuple[F64, F64]:
    """Each event's long-term masses per column (× its user's scale), and the scales."""
    width = max(len(vocab), 1)
    before = np.zeros((len(scan.cats), width))
    owners: list[int] = []
    counts: list[int] = []
    names: list[str] = []
    sums: list[list[float]] = []
    for u, cats in enumerate(scan.cats):
        if cats:
            owners.append(u)
            counts.append(len(cats))
            names += cats
            sums += cats.values()
    if names:
        at = np.repeat(np.array(owners, np.int64), counts)
        before[at, list(map(vocab.__getitem__, names))] = [pair[1] for pair in sums]
    starts = ea.seg[:-1]
    peak = np.maximum.reduceat(np.abs(gain), starts)
    scale: F64 = 1.0 / np.where(peak > 0.0, peak, 1.0)
    g = gain * scale[ea.user]
    start_of = np.repeat(starts, np.diff(ea.seg))  # each event's user's first event
    before_t = (before * scale[:, None]).T
    out = np.empty((width, ea.n))
    for k in range(width):  # a column at a time: contiguous, the same sums as one 2-d cumsum
        terms = g * (col == k)
        cum = np.cumsum(terms)
        out[k] = before_t[k][ea.user] + cum - (cum[start_of] - terms[start_of])
    profile: F64 = np.ascontiguousarray(out.T)
    return profile, scale


def _consumed(ea: EventArrays, states: Sequence[UserState], catalog: Catalog, need: int) -> I64:
    """Distinct consumed items after each event, as ``apply_memories`` will record them:
    exact for users below ``need`` before the batch, else ``need`` (enough for the
    eligibility test: a window holds at most ``window`` items, ``need = min_history + window``).

    A positive event counts when its item is not in the user's memory and is the user's
    first positive event on it in the batch (rows stand for items; ``-1`` for ``""``).
    """
    held = np.fromiter((len(st.consumed) for st in states), np.int64, len(states))
    low = held < need
    cand = np.flatnonzero(low[ea.user] & (ea.weight > 0.0))
    key = ea.user[cand] * (len(catalog) + 1) + (ea.row[cand] + 1)
    first = cand[np.unique(key, return_index=True)[1]]
    ids, rows, users = catalog.ids, ea.row[first].tolist(), ea.user[first].tolist()
    fresh = [
        (ids[r] if r >= 0 else "") not in states[u].consumed
        for u, r in zip(users, rows, strict=True)
    ]
    inc = np.zeros(ea.n + 1, np.int64)
    inc[first[np.array(fresh, bool)] + 1] = 1
    cum = np.cumsum(inc)
    out: I64 = np.where(low[ea.user], held[ea.user] + cum[1:] - cum[ea.seg[:-1]][ea.user], need)
    return out


def _memory(
    scan: _Scan,
    catalog: Catalog,
    mem_node: I64,
    *,
    vocab: dict[str, int],
    states: Sequence[UserState],
    scale: F64,
    params: EngineParams,
    rule: DriftRule,
) -> dict[int, StreakMemory]:
    """The running streaks' remembered events as entry columns, per user."""
    if not scan.mem_users:
        return {}
    owner = np.repeat(np.array(scan.mem_users, np.int64), scan.mem_len)
    times = np.array(scan.mem_ts, np.int64)
    t_ref = np.array([states[u].t_ref for u in scan.mem_users], np.int64)
    dt = (times - np.repeat(t_ref, scan.mem_len)).astype(np.float64)
    growth = np.exp2(dt / params.decay.long_half_life_ms)
    removals = Removal(params)(np.array(scan.mem_w, np.float64), growth, scale[owner]).tolist()
    gaps = np.zeros(len(times), bool)
    gaps[1:] = (np.diff(times) >= rule.session_gap_ms) & (owner[1:] == owner[:-1])
    sessions = gaps.tolist()
    cols = _columns(vocab, catalog, mem_node).tolist()
    out: dict[int, StreakMemory] = {}
    at = 0
    for u, k in zip(scan.mem_users, scan.mem_len, strict=True):
        end = at + k
        out[u] = StreakMemory(
            scan.mem_items[at:end],
            scan.mem_w[at:end],
            cols[at:end],
            removals[at:end],
            sessions[at:end],
        )
        at = end
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
    scan = _scan(states, level, rule)
    ev_node = nodes_at(catalog, ea.row, level)
    mem_rows = np.fromiter(
        (catalog.index.get(it, -1) for it in scan.mem_items), np.int64, len(scan.mem_items)
    )
    mem_node = nodes_at(catalog, mem_rows, level)
    vocab, uniq = _vocabulary(scan, catalog, ev_node, mem_node)
    lut = np.full(max(len(catalog.categories), 1), -1, np.int64)
    lut[uniq] = np.arange(len(uniq))  # the vocabulary's first columns
    col: I64 = np.where(ev_node >= 0, lut[np.maximum(ev_node, 0)], -1)
    profile, scale = _profile(ea, scan, vocab, col, c.long)
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
    rows = ea.row.tolist()
    items = list(map(catalog.ids.__getitem__, rows)) if len(catalog) else [""] * ea.n
    for i in np.flatnonzero(ea.row < 0).tolist():
        items[i] = ""
    memory = _memory(
        scan, catalog, mem_node, vocab=vocab, states=states, scale=scale, params=params, rule=rule
    )
    return DriftInputs(
        names=list(vocab),
        vocab=vocab,
        col=col.tolist(),
        profile=profile,
        total=total.tolist(),
        removal=removal.tolist(),
        consumed=consumed.tolist(),
        items=items,
        ts=ea.ts.tolist(),
        collab=ea.collab.tolist(),
        scale=scale,
        opens=opens,
        running=scan.running,
        memory=memory,
    )
