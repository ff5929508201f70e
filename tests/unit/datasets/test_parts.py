"""The generator's parts: weighted group sampling, the taxonomy cuts, delivery planning."""

from __future__ import annotations

import time

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streams.datasets import GeneratorParams, generate
from streams.datasets.delivery import plan_delivery
from streams.datasets.records import event_records
from streams.datasets.sampling import GroupSampler
from streams.datasets.taxonomy import load_taxonomy


@given(
    groups=st.lists(st.integers(0, 4), min_size=1, max_size=40),
    seed=st.integers(0, 2**32 - 1),
)
def test_group_sampler_draws_inside_the_requested_group(groups: list[int], seed: int) -> None:
    rng = np.random.default_rng(seed)
    weights = rng.random(len(groups)) * (rng.random(len(groups)) > 0.3)
    s = GroupSampler(np.array(groups), weights, n_groups=6)
    requested = rng.integers(0, 6, 50)
    got = s.sample(requested, rng)
    g = np.array(groups)
    for r, e in zip(requested.tolist(), got.tolist(), strict=True):
        has_weight = bool(weights[g == r].sum() > 0)
        assert (e >= 0) == has_weight
        if e >= 0:
            assert g[e] == r
            assert weights[e] > 0


def test_group_sampler_follows_the_weights() -> None:
    s = GroupSampler(np.array([0, 0, 0, 1]), np.array([1.0, 2.0, 7.0, 5.0]), n_groups=2)
    got = s.sample(np.zeros(20_000, dtype=np.int64), np.random.default_rng(1))
    freq = np.bincount(got, minlength=4) / got.size
    np.testing.assert_allclose(freq, [0.1, 0.2, 0.7, 0.0], atol=0.015)


def test_group_sampler_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="non-negative"):
        GroupSampler(np.array([0]), np.array([-1.0]), n_groups=1)
    with pytest.raises(ValueError, match="group ids"):
        GroupSampler(np.array([3]), np.array([1.0]), n_groups=2)


@pytest.mark.parametrize(
    ("categories", "fanout", "depth", "leaves", "slashes"),
    [(8, 3, 3, 72, 2), (4, 2, 3, 16, 2), (8, 3, 2, 24, 1), (3, 3, 1, 3, 0), (1, 1, 1, 1, 0)],
)
def test_taxonomy_cuts(categories: int, fanout: int, depth: int, leaves: int, slashes: int) -> None:
    t = load_taxonomy(categories, fanout, depth)
    assert len(t.tops) == categories
    assert len(t.leaves) == leaves
    assert all(leaf.path.count("/") == slashes for leaf in t.leaves)
    assert len({leaf.path for leaf in t.leaves}) == leaves
    for top in range(categories):
        assert {t.leaves[i].top for i in t.top_leaves(top)} == {top}
    assert all(leaf.nouns and leaf.uses and leaf.attributes for leaf in t.leaves)


def test_taxonomy_refuses_what_it_does_not_have() -> None:
    with pytest.raises(ValueError, match="fanout"):
        load_taxonomy(fanout=4)


@given(
    n=st.integers(0, 60),
    late=st.floats(0.0, 1.0),
    dup=st.floats(0.0, 1.0),
    seed=st.integers(0, 2**32 - 1),
)
@settings(max_examples=60)
def test_delivery_is_a_complete_arrival_ordering(
    n: int, late: float, dup: float, seed: int
) -> None:
    rng = np.random.default_rng(seed)
    ts = np.sort(rng.integers(0, 100_000, n))
    d = plan_delivery(ts, late, 5_000, dup, rng)
    assert np.all(np.diff(d.arrival) >= 0)
    assert sorted(d.order[~d.duplicate].tolist()) == list(range(n))
    assert set(d.order[d.duplicate].tolist()) <= set(range(n))
    assert np.all(d.arrival >= ts[d.order])
    assert np.all(d.arrival[~d.duplicate] - ts[d.order[~d.duplicate]] <= 5_000)
    firsts = {}
    for line, e in enumerate(d.order.tolist()):
        if d.duplicate[line]:
            assert e in firsts  # a resend never overtakes its first send
        else:
            firsts[e] = line


def test_small_shapes_still_generate() -> None:
    ds = generate(
        GeneratorParams(users=5, items=3, categories=1, fanout=1, depth=1, drift_fraction=0.0)
    )
    assert ds.catalog.size == 3
    assert ds.events.size > 0
    assert len(list(event_records(ds))) == ds.delivery.lines


@pytest.mark.slow
def test_generates_100k_events_in_a_few_seconds() -> None:
    start = time.perf_counter()
    ds = generate(GeneratorParams(users=2000, items=5000, events_per_user=50.0))
    records = sum(1 for _ in event_records(ds))
    elapsed = time.perf_counter() - start
    assert records > 95_000
    assert elapsed < 15.0, f"{elapsed:.1f} s for {records} events"


@pytest.mark.parametrize("field", ["events_per_user", "span_days", "noise", "zipf"])
@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_generator_parameters_must_be_finite(field: str, value: float) -> None:
    """nan passes every range check (each comparison is false) and reached numpy."""
    from streams.datasets import GeneratorParams

    with pytest.raises(ValueError, match=f"{field} must be finite"):
        GeneratorParams(**{field: value})  # type: ignore[arg-type]
