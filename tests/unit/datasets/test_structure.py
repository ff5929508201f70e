"""The structure planted in the data is really there: bundles, drift, lateness, resends."""

from __future__ import annotations

import itertools
from collections import Counter, defaultdict
from typing import Any

import numpy as np

from tests.unit.datasets.conftest import SMALL, Written

SESSION_GAP_MS = 30 * 60_000


def _unique_by_user(events: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    seen: set[str] = set()
    out: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in events:
        if r["event_id"] not in seen:
            seen.add(r["event_id"])
            out[r["user_id"]].append(r)
    for rs in out.values():
        rs.sort(key=lambda r: (r["ts"], r["event_id"]))
    return out


def _sessions(events: list[dict[str, Any]]) -> list[set[str]]:
    """Item sets of sessions, cut where a user is idle for more than 30 minutes."""
    out: list[set[str]] = []
    for rs in _unique_by_user(events).values():
        current: set[str] = set()
        last = None
        for r in rs:
            if last is not None and r["ts"] - last > SESSION_GAP_MS:
                out.append(current)
                current = set()
            current.add(r["item_id"])
            last = r["ts"]
        out.append(current)
    return out


def test_bundle_pairs_co_occur_far_above_chance(small: Written) -> None:
    """Bundle items of different leaves share sessions far more than random items of the same
    two leaves: co-visitation knows something that category and text similarity do not."""
    ds = small.ds
    sessions = _sessions(small.records("events.jsonl"))
    pair_count: Counter[tuple[str, str]] = Counter()
    for items in sessions:
        pair_count.update(itertools.combinations(sorted(items), 2))

    def rate(pairs: set[tuple[int, int]]) -> float:
        ids = [(f"i{min(a, b):06d}", f"i{max(a, b):06d}") for a, b in pairs]
        return sum(pair_count[p] for p in ids) / max(len(ids), 1)

    leaf = ds.catalog.leaf
    bundle_pairs = {
        (int(a), int(b))
        for b_ in range(ds.bundles.count)
        for a, b in itertools.combinations(ds.bundles.of(b_).tolist(), 2)
        if leaf[a] != leaf[b]
    }
    rng = np.random.default_rng(0)
    control: set[tuple[int, int]] = set()
    for a, b in bundle_pairs:  # random items of the same two leaves
        ca = np.flatnonzero(leaf == leaf[a])
        cb = np.flatnonzero(leaf == leaf[b])
        pa, pb = int(rng.choice(ca)), int(rng.choice(cb))
        if pa != pb and (pa, pb) not in bundle_pairs and (pb, pa) not in bundle_pairs:
            control.add((pa, pb))
    assert rate(bundle_pairs) > 5 * rate(control) > 0


def test_bundles_cut_across_categories(small: Written) -> None:
    ds = small.ds
    tops = ds.taxonomy.leaf_tops()
    n_leaves = [
        len(set(ds.catalog.leaf[ds.bundles.of(b)].tolist())) for b in range(ds.bundles.count)
    ]
    n_tops = [
        len(set(tops[ds.catalog.leaf[ds.bundles.of(b)]].tolist())) for b in range(ds.bundles.count)
    ]
    assert np.mean(np.array(n_leaves) >= 2) > 0.8
    assert max(n_leaves) <= 3
    assert 0.2 < np.mean(np.array(n_tops) >= 2) < 0.9


def test_popularity_is_skewed(small: Written) -> None:
    counts = Counter(r["item_id"] for r in small.records("events.jsonl"))
    values = np.sort(np.array(list(counts.values())))[::-1]
    top_share = values[: len(values) // 10].sum() / values.sum()
    assert top_share > 0.3  # the top 10 % of items get well over 10 % of the events


def test_drift_truth_matches_the_events(small: Written) -> None:
    truth = small.records("drift_truth.jsonl")
    users_truth = {r["user_id"]: r for r in small.records("users_truth.jsonl")}
    by_user = _unique_by_user(small.records("events.jsonl"))
    assert 0.15 * SMALL.users < len(truth) <= SMALL.drift_fraction * SMALL.users * 1.3
    for t in truth:
        rs = by_user[t["user_id"]]
        assert rs[t["switch_index"]]["ts"] == t["switch_ts"]
        assert t["from"] != t["to"]
        u = users_truth[t["user_id"]]
        assert u["switched"]
        assert [i["home"] for i in u["interests"]] == [t["from"], t["to"]]
        before = Counter(r["item_id"] for r in rs[: t["switch_index"]])
        after = Counter(r["item_id"] for r in rs[t["switch_index"] :])
        assert before
        assert after
    switched = {u for u, r in users_truth.items() if r["switched"]}
    assert switched == {t["user_id"] for t in truth}


def test_interest_switches_move_the_top_category(small: Written) -> None:
    """After the switch most of a user's events are in the new top-level category."""
    category = {
        r["item_id"]: r["category"] for r in small.records("items.jsonl") if "category" in r
    }
    by_user = _unique_by_user(small.records("events.jsonl"))
    shares_from, shares_to = [], []
    for t in small.records("drift_truth.jsonl"):
        rs = by_user[t["user_id"]]
        tops_before = [category[r["item_id"]].split("/")[0] for r in rs[: t["switch_index"]]]
        tops_after = [category[r["item_id"]].split("/")[0] for r in rs[t["switch_index"] :]]
        shares_from.append(tops_before.count(t["from"]) / len(tops_before))
        shares_to.append(tops_after.count(t["to"]) / len(tops_after))
    assert np.mean(shares_from) > 0.6
    assert np.mean(shares_to) > 0.6


def test_late_arrivals_reorder_the_file_globally_and_per_user(small: Written) -> None:
    events = small.records("events.jsonl")
    c = small.manifest["counts"]
    assert abs(c["late"] / c["events"] - SMALL.late_fraction) < 0.02
    newest = -1
    late_lines = 0
    newest_by_user: dict[str, int] = {}
    late_in_user = 0
    for r in events:
        late_lines += r["ts"] < newest
        newest = max(newest, r["ts"])
        prev = newest_by_user.get(r["user_id"], -1)
        late_in_user += r["ts"] < prev
        newest_by_user[r["user_id"]] = max(prev, r["ts"])
    share = late_lines / len(events)
    assert 0.5 * SMALL.late_fraction < share < 2 * SMALL.late_fraction + SMALL.duplicate_fraction
    assert late_in_user > 0.2 * c["late"]


def test_resends_are_identical_and_come_later(small: Written) -> None:
    lines = small.lines("events.jsonl")
    records = small.records("events.jsonl")
    first: dict[str, int] = {}
    resent = 0
    for n, r in enumerate(records):
        if r["event_id"] in first:
            resent += 1
            assert lines[first[r["event_id"]]] == lines[n]
        else:
            first[r["event_id"]] = n
    c = small.manifest["counts"]
    assert resent == c["duplicates"] > 0
    assert abs(resent / c["events"] - SMALL.duplicate_fraction) < 0.015


def test_ratings_follow_affinity(small: Written) -> None:
    """Ratings of items the user came for are higher than of random (noise) items."""
    from streams.datasets.funnel import RATING
    from streams.datasets.visits import NOISE

    ds = small.ds
    rated = ds.events.type == RATING
    noise = ds.visits.kind[ds.events.visit] == NOISE
    stars = ds.events.value
    assert stars[rated & ~noise].mean() > 4.0
    if (rated & noise).any():
        assert stars[rated & noise].mean() < 3.0


def _majority_window_alarm(tops: list[str], before: int = 30, after: int = 15) -> int | None:
    """The first index where > 70 % of the next ``after`` events leave the recent majority."""
    for i in range(10, len(tops) - after + 1):
        majority = Counter(tops[max(0, i - before) : i]).most_common(1)[0][0]
        if sum(t != majority for t in tops[i : i + after]) > 0.7 * after:
            return i
    return None


def test_switches_are_detectable_from_the_events_alone(small: Written) -> None:
    """A naive detector (category majority over event windows) finds the planted switches
    and rarely fires for users who never switch: the signal is in the data."""
    category = {
        r["item_id"]: r["category"] for r in small.records("items.jsonl") if "category" in r
    }
    truth = {t["user_id"]: t for t in small.records("drift_truth.jsonl")}
    found, quiet_alarms = [], []
    for user, rs in _unique_by_user(small.records("events.jsonl")).items():
        at = _majority_window_alarm([category[r["item_id"]].split("/")[0] for r in rs])
        t = truth.get(user)
        if t is None:
            quiet_alarms.append(at is not None)
        elif len(rs) - t["switch_index"] >= 15:  # enough events after it to see it
            found.append(at is not None and abs(at - t["switch_index"]) <= 15)
    assert len(found) > 30
    assert np.mean(found) > 0.85
    assert np.mean(quiet_alarms) < 0.1
