"""``UserState``: everything the engine remembers about one user.

Interest sums (vector and per category node, short and long half-life) are stored at the
reference time ``t_ref`` (see :mod:`state.decay`); only their *direction* and *shares* are
ever read, so their value at any time ``T`` differs from the stored one by a positive factor.
Bounded memories: recent items (co-visitation, candidates), consumed and disliked items, the
recent event ids and per-partition offset marks (idempotency), and the drift episode state.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from state.decay import rebase_factor

__all__ = ["DriftState", "UserState"]

F64 = npt.NDArray[np.float64]


@dataclass(slots=True)
class DriftState:
    """Where the user is in the drift state machine.

    ``streak``: consecutive events whose drift score stayed at or above the exit threshold
    (the evidence of the change); ``streak_start_ts``: the first of them; ``in_episode``: an
    alert was sent and the score has not fallen below the exit threshold since;
    ``last_alert_ts``: for the cooldown (``-1``: never).
    """

    in_episode: bool = False
    streak: int = 0
    streak_start_ts: int = -1
    last_alert_ts: int = -1


@dataclass(slots=True, eq=False)
class UserState:
    """The mutable state of one user. The engine owns it while a batch runs."""

    user_id: str
    short: F64
    long: F64
    t_ref: int = 0
    watermark: int = -1
    n_events: int = 0
    categories: list[dict[str, list[float]]] = field(default_factory=list)
    """Per path level (index 0 = top level): node name → ``[short, long]`` stored sums."""
    recent_items: list[str] = field(default_factory=list)
    recent_ts: list[int] = field(default_factory=list)
    recent_w: list[float] = field(default_factory=list)
    consumed: dict[str, None] = field(default_factory=dict)
    disliked: dict[str, None] = field(default_factory=dict)
    event_ids: dict[str, None] = field(default_factory=dict)
    offsets: dict[str, int] = field(default_factory=dict)
    drift: DriftState = field(default_factory=DriftState)

    @classmethod
    def new(cls, user_id: str, dim: int) -> UserState:
        """An empty state (no events) with ``dim``-dimensional interest vectors."""
        return cls(user_id, np.zeros(dim), np.zeros(dim))

    @property
    def dim(self) -> int:
        """The interest vector dimension."""
        return int(self.short.shape[0])

    def rebase(self, new_ref: int, short_half_life_ms: float, long_half_life_ms: float) -> None:
        """Move ``t_ref`` to ``new_ref``, scaling every stored sum so no value changes."""
        if new_ref == self.t_ref:
            return
        fs = float(rebase_factor(self.t_ref, new_ref, short_half_life_ms))
        fl = float(rebase_factor(self.t_ref, new_ref, long_half_life_ms))
        self.rescale(new_ref, fs, fl)

    def rescale(self, new_ref: int, short_factor: float, long_factor: float) -> None:
        """:meth:`rebase` with its factors computed by the caller (in bulk, for many users).

        ``short_factor``/``long_factor`` must be ``rebase_factor(t_ref, new_ref, h)``.
        """
        self.short *= short_factor
        self.long *= long_factor
        self.rescale_categories(new_ref, short_factor, long_factor)

    def rescale_categories(self, new_ref: int, short_factor: float, long_factor: float) -> None:
        """:meth:`rescale` of the category sums and ``t_ref`` only: for a caller that scales
        the vectors itself (in bulk) and stores them before anything reads them."""
        for level in self.categories:
            for pair in level.values():
                pair[0] *= short_factor
                pair[1] *= long_factor
        self.t_ref = new_ref

    def add_category(self, depth: int, name: str, short: float, long: float) -> None:
        """Add stored amounts to node ``name`` of level ``depth`` (1 = top)."""
        while len(self.categories) < depth:
            self.categories.append({})
        pair = self.categories[depth - 1].get(name)
        if pair is None:
            self.categories[depth - 1][name] = [short, long]
        else:
            pair[0] += short
            pair[1] += long

    def n_categories(self) -> int:
        """How many category nodes are remembered (all levels)."""
        return sum(len(level) for level in self.categories)

    def prune_categories(self, keep: int) -> None:
        """Keep at most ``keep`` nodes: drop the smallest long-term ones below the top level."""
        excess = self.n_categories() - keep
        if excess <= 0:
            return
        cands = sorted(
            (pair[1], -d, name)
            for d, level in enumerate(self.categories[1:], start=1)
            for name, pair in level.items()
        )
        for _w, neg_d, name in cands[:excess]:
            del self.categories[-neg_d][name]

    def category_shares(self, long_term: bool, depth: int) -> dict[str, float]:
        """Each node's share of the positive mass of level ``depth`` (1 = top level)."""
        if depth > len(self.categories):
            return {}
        i = 1 if long_term else 0
        level = self.categories[depth - 1]
        total = sum(p[i] for p in level.values() if p[i] > 0.0)
        if total <= 0.0:
            return {}
        return {name: p[i] / total for name, p in level.items() if p[i] > 0.0}

    def top_categories(self, long_term: bool, depth: int, n: int) -> tuple[str, ...]:
        """The ``n`` categories of ``depth`` with the largest share (ties by name)."""
        shares = self.category_shares(long_term, depth)
        return tuple(sorted(shares, key=lambda c: (-shares[c], c))[:n])

    def forget_item(self, item_id: str) -> None:
        """Drop an item from the user's item memories (the item was deleted)."""
        self.consumed.pop(item_id, None)
        self.disliked.pop(item_id, None)
        keep = [i for i, it in enumerate(self.recent_items) if it != item_id]
        self.recent_items = [self.recent_items[i] for i in keep]
        self.recent_ts = [self.recent_ts[i] for i in keep]
        self.recent_w = [self.recent_w[i] for i in keep]
