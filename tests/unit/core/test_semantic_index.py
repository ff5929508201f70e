"""Semantic candidates from the inverted-file index (large catalogs) against the exact pass."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from state.item_index import Codes as IndexCodes
from streams.core.engine import Engine
from streams.core.messages import Message
from streams.core.outputs import Recommendation
from streams.core.params import EngineParams
from streams.core.ranking import exact_semantic, indexed_semantic
from streams.datasets import GeneratorParams, generate
from streams.datasets.records import event_records, item_records
from tests.contract.encoder_doubles import HashingEncoder


def _engine(min_items: int, nprobe: int, codes: IndexCodes = "pq4") -> tuple[Engine, list[str]]:
    params = EngineParams()
    rp = dataclasses.replace(
        params.recommend, index_min_items=min_items, index_nprobe=nprobe, index_codes=codes
    )
    engine = Engine(dataclasses.replace(params, recommend=rp), HashingEncoder(32))
    ds = generate(GeneratorParams(users=150, items=900, seed=5))
    engine.apply_items([Message(json.dumps(r).encode()) for r in item_records(ds)])
    events = [Message(json.dumps(r).encode(), topic="events") for r in event_records(ds)]
    for i in range(0, len(events), 2048):
        engine.process(events[i : i + 2048], recommend=False)
    return engine, sorted(engine.users.user_ids())


def _recs(engine: Engine, users: list[str]) -> list[Recommendation]:
    return engine.recommend(users)


def test_an_exhaustive_index_recommends_what_the_exact_pass_does() -> None:
    exact, users = _engine(min_items=10**9, nprobe=16)
    indexed, _ = _engine(min_items=1, nprobe=10**6, codes="fp16")  # every list: the exact top k
    a, b = _recs(exact, users), _recs(indexed, users)
    assert indexed._recommender.index.approximate
    assert not exact._recommender.index.approximate
    for ra, rb in zip(a, b, strict=True):
        assert [i.item_id for i in ra.items] == [i.item_id for i in rb.items]
        assert np.allclose([i.score for i in ra.items], [i.score for i in rb.items], atol=1e-5)


@pytest.mark.parametrize("codes", ["pq4", "fp16"])
def test_a_partial_index_keeps_most_recommendations(codes: IndexCodes) -> None:
    exact, users = _engine(min_items=10**9, nprobe=16)
    indexed, _ = _engine(min_items=1, nprobe=4, codes=codes)
    a, b = _recs(exact, users), _recs(indexed, users)
    same = np.mean(
        [
            len({i.item_id for i in ra.items} & {i.item_id for i in rb.items})
            / max(len(ra.items), 1)
            for ra, rb in zip(a, b, strict=True)
        ]
    )
    assert same > 0.9  # co-visitation, category and trending candidates do not depend on it


def test_indexed_similarities_equal_the_dense_ones() -> None:
    rng = np.random.default_rng(0)
    mat = rng.standard_normal((50, 8)).astype(np.float32)
    theta = rng.standard_normal((3, 8)).astype(np.float32)
    ok = np.ones(50, np.bool_)
    dense = exact_semantic(theta, mat, ok, 5)
    order = np.argsort(-(theta @ mat.T), axis=1)[:, :5]
    sims = np.take_along_axis(theta @ mat.T, order, axis=1)
    idx = indexed_semantic(theta, mat, order, sims, 50)
    assert np.array_equal(np.sort(dense.keys), idx.keys)
    assert np.allclose(dense.best, idx.best)
    keys = np.sort(rng.choice(150, 40, replace=False))
    user, row = np.divmod(keys, 50)
    assert np.allclose(dense.at(user, row, keys), idx.at(user, row, keys), atol=1e-5)
    # a user whose candidates are all semantic ones, another with none at all
    keys = np.concatenate([idx.keys[idx.keys < 50], [100, 107, 149]])
    user, row = np.divmod(keys, 50)
    assert np.allclose(dense.at(user, row, keys), idx.at(user, row, keys), atol=1e-5)
