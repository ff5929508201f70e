"""``Engine``: one batch of raw messages through the core; recommendations on demand.

A batch runs: parse and validate into columns (:meth:`streams.core.contract.EventParser.
batch`: no object per event) → upsert new or changed inline items and encode them together
with the events' texts (one encoder call, none when there is nothing new) → admit per user
(:mod:`streams.core.admission`, vectorised: duplicates, lateness, future, unknown items) →
numpy over all admitted events (:mod:`streams.core.interests`, :mod:`streams.core.drifting`,
:mod:`streams.core.collab`) → record marks → recommend once per touched user. Per-user
semantics are sequential in arrival order, so the state does not depend on batch cuts, and
the decayed sums do not depend on the arrival order at all. No I/O, no clock: ``now_ms`` is
an argument. Recommendations are ranked for groups of users at once (:mod:`streams.core.
recommender`), so a batch's fixed cost is a few matrix products, not one pass per user.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from itertools import repeat

import numpy as np
import numpy.typing as npt

from encoders.protocol import TextEncoder
from state.catalog import Catalog
from state.item_index import ItemIndex
from state.signals import SignalDeltas, Signals
from state.store import MemoryUserStore, UserStore
from state.user import UserState
from streams.core.admission import Admission, admit, commit_marks
from streams.core.arrays import TypeTable, build_arrays
from streams.core.collab import collab_deltas
from streams.core.columns import EventColumns
from streams.core.contract import EventParser, ItemParser
from streams.core.drifting import detect_drift
from streams.core.errors import EngineError
from streams.core.events import Item
from streams.core.interests import apply_interests, apply_memories, contributions
from streams.core.items import changed_items, encode_and_upsert
from streams.core.messages import Message
from streams.core.outputs import DriftAlert, Recommendation, Rejection
from streams.core.params import EngineParams
from streams.core.recommender import Recommender

__all__ = ["BatchResult", "Engine", "ItemResult", "ParsedEvents", "batch_parser"]

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]

ParsedEvents = tuple[EventColumns, list[Rejection]]
"""A batch's valid events as columns and its rejections (:meth:`Engine.parse`)."""


@dataclass(slots=True)
class BatchResult:
    """What one :meth:`Engine.process` call produced."""

    recommendations: list[Recommendation] = field(default_factory=list)
    alerts: list[DriftAlert] = field(default_factory=list)
    rejections: list[Rejection] = field(default_factory=list)
    applied: int = 0
    duplicates: int = 0
    item_upserts: list[Item] = field(default_factory=list)
    signal_deltas: SignalDeltas = field(default_factory=SignalDeltas)


@dataclass(slots=True)
class ItemResult:
    """What one :meth:`Engine.apply_items` call did."""

    upserted: list[Item] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    unchanged: int = 0
    rejections: list[Rejection] = field(default_factory=list)


def batch_parser(params: EngineParams) -> Callable[[Sequence[Message]], ParsedEvents]:
    """The batch validator :meth:`Engine.parse` runs (for parsing ahead, elsewhere)."""
    parser = EventParser(params.limits, frozenset(params.event_types))
    index = TypeTable.of(params).index
    return lambda messages: parser.batch(messages, index)


class Engine:
    """The interest engine (framework-free). Not thread-safe: one batch at a time."""

    def __init__(
        self,
        params: EngineParams,
        encoder: TextEncoder,
        users: UserStore | None = None,
        catalog: Catalog | None = None,
        signals: Signals | None = None,
    ) -> None:
        self.params = params
        self.encoder = encoder
        self.users: UserStore = MemoryUserStore() if users is None else users
        self.catalog = (
            Catalog(encoder.dim, params.limits.max_category_depth) if catalog is None else catalog
        )
        if self.catalog.dim != encoder.dim:
            raise EngineError(f"catalog dim {self.catalog.dim} != encoder dim {encoder.dim}")
        self.signals = (
            Signals(
                params.covis.half_life_ms,
                params.covis.max_neighbors,
                params.trending.half_life_ms,
                params.decay.rebase_exponent,
            )
            if signals is None
            else signals
        )
        self._parse = batch_parser(params)
        self._items = ItemParser(params.limits)
        self._types = TypeTable.of(params)
        self._recommender = Recommender(params, self.catalog, self.signals)
        self._watermark = -1

    @property
    def watermark_ms(self) -> int:
        """The newest event time applied so far (``-1`` before any)."""
        return self._watermark

    def _new_state(self, user_id: str) -> UserState:
        return UserState.new(user_id, self.catalog.dim)

    def apply_items(self, messages: Sequence[Message]) -> ItemResult:
        """Upsert or delete catalog items (one encoder call for the new or changed ones)."""
        res = ItemResult()
        items: list[Item] = []
        for msg in messages:
            parsed = self._items(msg)
            if isinstance(parsed, Rejection):
                res.rejections.append(parsed)
            else:
                items.append(parsed)
        # Apply in order: an upsert after a delete revives, a delete after an upsert removes.
        final: dict[str, Item] = {}
        for it in items:
            final[it.item_id] = it
        changed = changed_items([it for it in final.values() if not it.deleted], self.catalog)
        encode_and_upsert(changed, [], self.catalog, self.encoder)
        res.upserted = changed
        for it in final.values():
            if it.deleted and self.delete_item(it.item_id):
                res.deleted.append(it.item_id)
        res.unchanged = len(items) - len(res.upserted) - len(res.deleted)
        return res

    def parse(self, messages: Sequence[Message]) -> ParsedEvents:
        """Validate ``messages`` into columns and rejections (the first step of
        :meth:`process`; pure, so it may run ahead, e.g. in another process)."""
        return self._parse(messages)

    def process(
        self,
        messages: Sequence[Message],
        now_ms: int | None = None,
        recommend: bool = True,
        parsed: ParsedEvents | None = None,
        counted: npt.NDArray[np.bool_] | None = None,
    ) -> BatchResult:
        """Apply one batch of raw event messages.

        ``now_ms``: the caller's clock for the ``future_ts`` rule (``None``: no check).
        ``recommend=False`` skips the per-user recommendations (replay ``--emit final``).
        ``parsed``: :meth:`parse` of these very ``messages``, when it was done ahead.
        ``counted``: per message, whether its collaborative increments were published
        already (a redelivery after a crash): such an event still updates its user's state
        (when that state does not have it yet) and pairs with later events, but makes no
        trending or co-visitation increment of its own again.
        """
        res = BatchResult()
        cols, rejections = self.parse(messages) if parsed is None else parsed
        res.rejections = list(rejections)
        inline = list(cols.item.values())
        changed = changed_items(inline, self.catalog) if inline else []
        texts = list(dict.fromkeys(t for t in cols.text.values() if t))
        text_vecs = encode_and_upsert(changed, texts, self.catalog, self.encoder)
        res.item_upserts = changed
        if self.params.accept_unknown_items:
            self.catalog.ensure_rows(cols.item_id)
        rows, known = self._rows(cols)
        adm = admit(
            cols, messages, self.users, self._new_state, self.params, known=known, now_ms=now_ms
        )
        res.rejections += adm.rejections
        res.duplicates = adm.duplicates
        busy: list[UserState] = []
        if len(adm.order):
            try:
                fresh = None
                if counted is not None and counted.any():
                    fresh = ~counted[np.asarray(cols.msg, np.int64)[adm.order]]
                res.alerts, deltas, busy = self._apply(
                    cols, adm, rows, texts, text_vecs, fresh=fresh
                )
            except (ValueError, IndexError, FloatingPointError) as exc:
                users = ", ".join(adm.states[u].user_id for u in np.unique(adm.user)[:5].tolist())
                raise EngineError(f"batch failed for users {users}...: {exc}") from exc
            res.signal_deltas = deltas
            res.applied = len(adm.order)
        self._commit(cols, adm)
        if recommend and busy:
            res.recommendations = self._recommender.recommend(
                busy, [s.user_id for s in busy], [s.watermark for s in busy]
            )
        return res

    def _rows(self, cols: EventColumns) -> tuple[I64, npt.NDArray[np.bool_]]:
        """Each event's catalog row (``-1``: none) and whether its item is known or inline."""
        cat = self.catalog
        rows = np.fromiter(map(cat.index.get, cols.item_id, repeat(-1)), np.int64, len(cols))
        has = rows >= 0
        known = np.zeros(len(rows), np.bool_)
        known[has] = cat.known[rows[has]] & cat.alive[rows[has]]
        if cols.item:
            known[list(cols.item)] = True
        return rows, known

    def _commit(self, cols: EventColumns, adm: Admission) -> None:
        """Record marks and event ids; store every user that has state to keep."""
        window = self.params.idempotency.event_id_window
        counts = np.bincount(adm.user, minlength=len(adm.states)).tolist()
        ids = list(map(cols.event_id.__getitem__, adm.order.tolist()))
        start = 0
        for u, st in enumerate(adm.states):
            n, marks = counts[u], adm.marks[u]
            if adm.is_new[u] and n == 0 and not marks:
                continue  # nothing of this new user was applied: no state to keep
            commit_marks(st, marks, ids[start : start + n], window)
            start += n
            self.users.put(st)

    def _apply(
        self,
        cols: EventColumns,
        adm: Admission,
        rows: I64,
        texts: list[str],
        text_vecs: npt.NDArray[np.float32],
        *,
        fresh: npt.NDArray[np.bool_] | None = None,
    ) -> tuple[list[DriftAlert], SignalDeltas, list[UserState]]:
        text_rows = {t: i for i, t in enumerate(texts)}
        ea, users = build_arrays(
            cols, adm.order, adm.user, rows=rows, types=self._types, text_rows=text_rows
        )
        states = [adm.states[u] for u in users.tolist()]
        deltas = collab_deltas(ea, states, self.catalog, self.params, fresh)
        c = contributions(ea, states, self.catalog, text_vecs, self.params)
        alerts = detect_drift(ea, states, self.catalog, c, self.params)
        apply_interests(ea, states, self.catalog, c, self.params)
        apply_memories(ea, states, self.catalog, self.params)
        self._watermark = max(self._watermark, int(ea.ts.max()))
        if self.params.apply_signals_locally:
            self.signals.apply_rows(
                deltas.t_ref,
                pop_rows=deltas.pop_rows,
                pop_w=deltas.pop_w,
                pair_a=deltas.pair_a,
                pair_b=deltas.pair_b,
                pair_w=deltas.pair_w,
            )
        return alerts, deltas.to_ids(self.catalog), states

    def apply_signal_deltas(self, deltas: SignalDeltas) -> None:
        """Apply increments published by any worker (this one's included)."""
        self.signals.apply(deltas, self.catalog)

    def recommend(self, user_ids: Sequence[str], now_ms: int | None = None) -> list[Recommendation]:
        """Recommendations for ``user_ids`` (unknown users: trending), stamped ``now_ms``.

        ``now_ms=None`` stamps each with the user's newest event time (the engine's
        watermark for unknown users). Scores are scale-free, so ``now_ms`` does not change
        the ranking.
        """
        states = [self.users.get(u) for u in user_ids]
        ts = [
            (now_ms if now_ms is not None else (s.watermark if s is not None else self._watermark))
            for s in states
        ]
        return self._recommender.recommend(states, user_ids, ts)

    def prepare_recommend(self) -> None:
        """Build the shared structures :meth:`recommend` needs now (the item index of a
        large catalog), e.g. before forking processes that recommend."""
        self._recommender.prepare()

    @property
    def item_index(self) -> ItemIndex:
        """The semantic candidates' index (its builds: :attr:`ItemIndex.last_build`)."""
        return self._recommender.index

    def index_in_background(self, enabled: bool = True) -> None:
        """Rebuild the item index of a large catalog in a thread from now on, the old one
        answering meanwhile (:class:`state.item_index.ItemIndex`): no call waits for a
        rebuild, but which index answers depends on timing. Off by default (``replay``)."""
        self._recommender.index.background = enabled

    def limit_threads(self, n: int) -> None:
        """Use at most ``n`` threads in the item index from now on (e.g. in a forked child)."""
        self._recommender.limit_threads(n)

    def score_users(self, user_ids: Sequence[str]) -> tuple[list[str], F64]:
        """``(item ids, scores (users, items))`` over the whole catalog (evaluation).

        No exclusion, no diversity; ``-inf`` for deleted and placeholder items.
        """
        states = [self.users.get(u) for u in user_ids]
        return list(self.catalog.ids), self._recommender.score_users(states)

    def score_items(self, user_id: str, now_ms: int | None = None) -> tuple[list[str], F64]:
        """``(item ids, scores)`` of every catalog item for one user (see :meth:`score_users`)."""
        ids, scores = self.score_users([user_id])
        return ids, scores[0]

    def forget_user(self, user_id: str) -> None:
        """Erase everything the engine remembers about ``user_id`` (its state)."""
        self.users.delete(user_id)

    def delete_item(self, item_id: str) -> bool:
        """Remove an item: never recommended again, dropped from the signals."""
        row = self.catalog.row(item_id)
        if not self.catalog.delete(item_id):
            return False
        assert row is not None
        self.signals.forget(row)
        return True
