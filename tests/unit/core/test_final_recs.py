"""The final recommendations of a replay in several processes: the same bytes as in one."""

from __future__ import annotations

import dataclasses
import io
import random

import pytest

from streams.commands import final_recs
from streams.commands.final_recs import FinalRecsError, fork_available, write_final
from streams.core import recommender
from streams.core.engine import Engine
from streams.core.params import EngineParams
from tests.contract.encoder_doubles import HashingEncoder
from tests.unit.core.helpers import event, item, msg

T0 = 1_704_067_200_000

pytestmark = pytest.mark.skipif(not fork_available(), reason="parts run in forked children")


def _engine(index_min_items: int = 20_000) -> Engine:
    params = EngineParams()
    rp = dataclasses.replace(params.recommend, index_min_items=index_min_items)
    engine = Engine(dataclasses.replace(params, recommend=rp), HashingEncoder(16))
    cats = ["a/x", "a/y", "b/z", "c/w"]
    engine.apply_items(
        [msg(item(f"i{j}", f"thing {j} {cats[j % 4]}", cats[j % 4])) for j in range(120)]
    )
    rng = random.Random(7)
    events = [
        msg(event(f"e{n}", f"u{rng.randrange(57)}", f"i{rng.randrange(120)}", T0 + n * 1000))
        for n in range(900)
    ]
    engine.process(events)
    return engine


def _final(engine: Engine, jobs: int) -> bytes:
    out = io.BytesIO()
    assert write_final(engine, out, jobs=jobs) == 57
    return out.getvalue()


@pytest.mark.parametrize("index_min_items", [20_000, 50])  # exact; the faiss index
def test_parts_in_children_write_the_same_bytes(
    monkeypatch: pytest.MonkeyPatch, index_min_items: int
) -> None:
    monkeypatch.setattr(recommender, "GROUP_USERS", 8)  # groups of 8: the parts cut at 8s
    engine = _engine(index_min_items)
    one = _final(engine, 1)
    monkeypatch.setattr(final_recs, "MIN_USERS_PER_JOB", 5)
    assert _final(engine, 3) == one
    assert _final(engine, 2) == one
    assert len(one.splitlines()) == 57


def test_too_few_users_stay_in_one_process(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_fork(*args: object) -> None:
        raise AssertionError("no child expected")

    monkeypatch.setattr(final_recs, "_child", no_fork)
    engine = _engine()
    assert _final(engine, 4) == _final(engine, 1)  # 57 users < MIN_USERS_PER_JOB


def test_a_failing_part_raises(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(recommender, "GROUP_USERS", 8)
    monkeypatch.setattr(final_recs, "MIN_USERS_PER_JOB", 5)
    monkeypatch.setattr(final_recs, "_child", broken)
    with pytest.raises(FinalRecsError, match="part 1 of 2 failed"):
        write_final(_engine(), io.BytesIO(), jobs=2)
