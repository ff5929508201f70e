"""JSON records of a generated dataset: items, events (file order), truth, manifest.

Event ``e`` (event-time order) has id ``e{e:08d}``, so a user's events sorted by
``(ts, event_id)`` are in generation order; the drift truth's ``switch_index`` counts in that
order, duplicates excluded. Extra items ``deleted_items`` copy a live item's text under a new id
and are deleted at the end of ``items.jsonl`` (no event refers to them).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterator
from typing import Any

import numpy as np

from streams.datasets.catalog import item_id
from streams.datasets.funnel import EVENT_TYPES, RATING
from streams.datasets.generator import SyntheticDataset
from streams.datasets.sampling import IntArray
from streams.datasets.users import user_id

__all__ = [
    "drift_truth",
    "event_id",
    "event_index_in_user",
    "event_records",
    "item_records",
    "manifest",
    "users_truth",
]


def event_id(index: int) -> str:
    """The id of event ``index`` (event-time order)."""
    return f"e{index:08d}"


def item_records(ds: SyntheticDataset) -> Iterator[dict[str, Any]]:
    """Live items, then the extra items, then their deletions."""
    yield from ds.catalog.records
    extra = [item_id(ds.catalog.size + j) for j in range(len(ds.deleted))]
    for new_id, source in zip(extra, ds.deleted, strict=True):
        yield {**ds.catalog.records[source], "item_id": new_id}
    for new_id in extra:
        yield {"item_id": new_id, "deleted": True}


def event_records(ds: SyntheticDataset) -> Iterator[dict[str, Any]]:
    """Every events-file line as a JSON object, in arrival order (resends included)."""
    users = ds.event_user()
    items = ds.event_item()
    ev = ds.events
    for e in ds.delivery.order.tolist():
        rec: dict[str, Any] = {
            "event_id": event_id(e),
            "user_id": user_id(int(users[e])),
            "item_id": item_id(int(items[e])),
            "type": EVENT_TYPES[ev.type[e]],
            "ts": int(ev.ts[e]),
        }
        value = float(ev.value[e])
        if not math.isnan(value):  # ratings are whole stars
            rec["value"] = int(value) if ev.type[e] == RATING else value
        text = ds.event_text(e)
        if text is not None:
            rec["text"] = text
        if ds.event_inline[e]:
            rec["item"] = ds.catalog.records[int(items[e])]
        yield rec


def event_index_in_user(ds: SyntheticDataset) -> IntArray:
    """For every event, its 0-based position among its user's events (event-time order)."""
    users = ds.event_user()
    order = np.argsort(users, kind="stable")
    counts = np.bincount(users, minlength=ds.users.count)
    starts = np.cumsum(counts) - counts
    index = np.empty_like(order)
    index[order] = np.arange(order.size) - np.repeat(starts, counts)
    return index


def drift_truth(ds: SyntheticDataset) -> list[dict[str, Any]]:
    """One record per user whose interests switch: where, when, from and to which top."""
    users = ds.event_user()
    regime = ds.plan.session_regime[ds.event_session()]
    index = event_index_in_user(ds)
    after = np.flatnonzero(regime == 1)
    switched, first = np.unique(users[after], return_index=True)
    tops = ds.taxonomy.tops
    out: list[dict[str, Any]] = []
    for u, e in zip(switched.tolist(), after[first].tolist(), strict=True):
        out.append(
            {
                "user_id": user_id(u),
                "switch_index": int(index[e]),
                "switch_ts": int(ds.events.ts[e]),
                "from": tops[int(ds.users.top[u, 0])],
                "to": tops[int(ds.users.top[u, 1])],
            }
        )
    return out


def users_truth(ds: SyntheticDataset) -> list[dict[str, Any]]:
    """Every user's latent interests (both regimes) and event count."""
    counts = np.bincount(ds.event_user(), minlength=ds.users.count)
    leaves, tops, um = ds.taxonomy.leaves, ds.taxonomy.tops, ds.users
    switched = ds.plan.switch_session >= 0
    out: list[dict[str, Any]] = []
    for u in range(um.count):
        regimes = (0, 1) if switched[u] else (0,)
        out.append(
            {
                "user_id": user_id(u),
                "events": int(counts[u]),
                "switched": bool(switched[u]),
                "interests": [
                    {
                        "home": tops[int(um.top[u, r])],
                        "leaves": [leaves[int(i)].path for i in um.pref_leaves[u, r]],
                        "weights": [round(float(w), 4) for w in um.pref_weights[u, r]],
                    }
                    for r in regimes
                ],
            }
        )
    return out


def manifest(ds: SyntheticDataset) -> dict[str, Any]:
    """Counts, params and seed of the dataset (``manifest.json``)."""
    ev, dl = ds.events, ds.delivery
    by_type = Counter(EVENT_TYPES[t] for t in ev.type.tolist())
    with_text = int(ds.event_has_text().sum())
    return {
        "generator": "interest-tracker synthetic",
        "format_version": 1,
        "seed": ds.params.seed,
        "params": ds.params.to_dict(),
        "counts": {
            "users": ds.users.count,
            "items": ds.catalog.size,
            "items_deleted": len(ds.deleted),
            "leaf_categories": len(ds.taxonomy.leaves),
            "bundles": ds.bundles.count,
            "sessions": ds.plan.n_sessions,
            "events": ev.size,
            "lines": dl.lines,
            "duplicates": int(dl.duplicate.sum()),
            "late": int(dl.late.sum()),
            "with_text": with_text,
            "with_inline_item": int(ds.event_inline.sum()),
            "drift_users": int((ds.plan.switch_session >= 0).sum()),
            "by_type": {t: by_type.get(t, 0) for t in EVENT_TYPES},
        },
        "ts_range": [int(ev.ts.min()), int(ev.ts.max())] if ev.size else [0, 0],
        "files": ["items.jsonl", "events.jsonl", "drift_truth.jsonl", "users_truth.jsonl"],
    }
