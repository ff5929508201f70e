"""Drift alerts through the engine on hand-made streams (the hashing twin encoder).

A user with an established home (books, with a secondary interest in sports) and then:
a move onto a new category (alert, once), a side session in the secondary interest (no
alert), a single off-category item seen through its whole funnel (no alert), and a young
profile (no alert).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import pytest

from streams.core.engine import Engine
from streams.core.messages import Message
from streams.core.outputs import DriftAlert
from streams.core.params import EngineParams
from tests.contract.encoder_doubles import HashingEncoder
from tests.unit.core.helpers import event, item, msg

T0 = 1_704_067_200_000
MIN = 60_000
HOUR = 60 * MIN
TOPS = ("books", "sports", "garden", "toys")
ITEMS = [item(f"{top}{k}", f"{top} thing {k}", f"{top}/misc") for top in TOPS for k in range(8)]


def _engine() -> Engine:
    eng = Engine(EngineParams(), HashingEncoder(32))
    eng.apply_items([msg(i) for i in ITEMS])
    return eng


def _session(
    user: str, items: Sequence[str], start: int, types: Sequence[str] = ()
) -> list[Message]:
    kinds = list(types) or ["click"] * len(items)
    return [
        msg(event(f"{user}-{start}-{k}", user, it, start + k * MIN, kinds[k]))
        for k, it in enumerate(items)
    ]


def _history(user: str) -> list[Message]:
    """Four days of books, sports seen from the first day on (an established side interest)."""
    out: list[Message] = []
    for day in range(4):
        books = [f"books{(day + k) % 8}" for k in range(5)]
        out += _session(user, [*books[:2], f"sports{day}", *books[2:]], T0 + day * 24 * HOUR)
    return out


def _alerts(eng: Engine, batches: Sequence[list[Message]]) -> list[DriftAlert]:
    return [a for b in batches for a in eng.process(b, recommend=False).alerts]


def test_a_move_onto_a_new_category_alerts_once_with_its_evidence() -> None:
    eng = _engine()
    switch = T0 + 5 * 24 * HOUR
    garden = [f"garden{k}" for k in range(6)]
    later = _session("u", [f"garden{k}" for k in range(6, 8)], switch + 7 * HOUR)
    alerts = _alerts(eng, [_history("u"), _session("u", garden, switch), later])
    assert len(alerts) == 1
    a = alerts[0]
    assert a.ts == switch + 2 * MIN  # the third new item: min_evidence 3
    assert (a.to_categories, a.from_categories[0]) == (("garden",), "books")
    assert a.evidence == 3
    assert a.severity == "high"
    assert a.score == 1.0
    st = eng.users.get("u")
    assert st is not None
    assert st.drift.in_episode
    assert st.drift.streak == 8


def test_a_side_session_in_an_established_secondary_interest_is_not_drift() -> None:
    eng = _engine()
    side = _session("u", [f"sports{k}" for k in range(4, 8)], T0 + 5 * 24 * HOUR)
    assert _alerts(eng, [_history("u"), side]) == []


def test_one_item_through_its_whole_funnel_is_one_unit_of_evidence() -> None:
    eng = _engine()
    funnel = ["view", "click", "add_to_cart", "purchase"]
    one = _session("u", ["toys1"] * 4, T0 + 5 * 24 * HOUR, funnel)
    home = _session("u", ["books1", "books2"], T0 + 5 * 24 * HOUR + 10 * MIN)
    assert _alerts(eng, [_history("u"), one + home]) == []


def test_a_young_profile_is_not_judged() -> None:
    eng = _engine()
    first = _session("u", ["books1"], T0)
    then = _session("u", [f"garden{k}" for k in range(6)], T0 + 24 * HOUR)
    assert _alerts(eng, [first + then]) == []


def test_an_alert_survives_any_cut_of_its_streak() -> None:
    switch = T0 + 5 * 24 * HOUR
    stream = _history("u") + _session("u", [f"garden{k}" for k in range(6)], switch)
    want = _alerts(_engine(), [stream])
    assert len(want) == 1
    for cut in range(len(stream) - 6, len(stream)):
        got = _alerts(_engine(), [stream[:cut], stream[cut:]])
        assert len(got) == 1, cut
        # equal up to rounding in the similarity (the stored sums' reference time differs)
        assert dataclasses.replace(got[0], similarity=0.0) == dataclasses.replace(
            want[0], similarity=0.0
        ), cut
        assert got[0].similarity == pytest.approx(want[0].similarity, abs=1e-12)
