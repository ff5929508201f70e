"""The engine on small hand-made streams (the hashing twin encoder)."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import pytest

from state.codec import encode_user
from state.store import CodecUserStore
from streams.core.config import params_from_mapping
from streams.core.engine import Engine
from streams.core.messages import Message
from streams.core.params import EngineParams
from tests.contract.encoder_doubles import HashingEncoder
from tests.unit.core.compare import assert_same_values
from tests.unit.core.helpers import event, item, msg

T0 = 1_704_067_200_000
MIN = 60_000
ITEMS = [
    item("run1", "trail running shoes", "sports/shoes/running"),
    item("run2", "road running shoes light", "sports/shoes/running"),
    item("run3", "running shoes for marathon", "sports/shoes/running"),
    item("sock", "running socks", "sports/apparel"),
    item("pan", "frying pan steel", "home/kitchen"),
    item("pot", "cooking pot steel", "home/kitchen"),
    item("knife", "chef knife steel", "home/kitchen"),
]


def _engine(params: EngineParams | None = None, **kw: Any) -> Engine:
    eng = Engine(params or EngineParams(), HashingEncoder(64), **kw)
    eng.apply_items([msg(i) for i in ITEMS])
    return eng


def _clicks(user: str, items: list[str], start: int = T0, prefix: str = "") -> list[Message]:
    return [
        msg(event(f"{prefix}{user}-{i}", user, it, start + i * MIN)) for i, it in enumerate(items)
    ]


def test_apply_items_encodes_once_and_only_changes() -> None:
    enc = HashingEncoder(64)
    eng = Engine(EngineParams(), enc)
    res = eng.apply_items([msg(i) for i in ITEMS])
    assert len(res.upserted) == len(ITEMS)
    assert len(enc.calls) == 1
    again = eng.apply_items([msg(ITEMS[0]), msg({**ITEMS[1], "title": "new title"})])
    assert [i.item_id for i in again.upserted] == ["run2"]
    assert again.unchanged == 1
    gone = eng.apply_items([msg({"item_id": "pan", "deleted": True}), msg(b"{")])
    assert gone.deleted == ["pan"]
    assert [r.reason for r in gone.rejections] == ["malformed_json"]


def test_process_recommends_and_explains() -> None:
    eng = _engine()
    res = eng.process(_clicks("u", ["run1", "sock", "run2"]) + _clicks("v", ["run1", "sock"]))
    assert res.applied == 5
    assert res.duplicates == 0
    assert {r.user_id for r in res.recommendations} == {"u", "v"}
    rec = next(r for r in res.recommendations if r.user_id == "v")
    assert rec.ts == T0 + MIN
    ids = [i.item_id for i in rec.items]
    assert "run1" not in ids  # consumed
    assert ids[0] == "run2"  # co-visited with run1 and sock by u
    assert any(r.startswith("covis:") for r in rec.items[0].reasons)
    assert rec.interests[0].category == "sports"
    assert eng.watermark_ms == T0 + 2 * MIN


def test_one_encoder_call_per_batch_for_inline_items_and_texts() -> None:
    enc = HashingEncoder(64)
    eng = Engine(EngineParams(), enc)
    eng.apply_items([msg(i) for i in ITEMS])
    calls = len(enc.calls)
    new = item("boot", "hiking boots", "sports/shoes/hiking")
    batch = [
        msg(event("a", "u", "boot", T0, item=new)),
        msg(event("b", "u", "run1", T0 + 1, text="running shoes")),
        msg(event("c", "w", "boot", T0 + 2, item=new, text="running shoes")),
    ]
    res = eng.process(batch)
    assert len(enc.calls) == calls + 1
    assert enc.calls[-1] == ["hiking boots. sports > shoes > hiking", "running shoes"]
    assert [i.item_id for i in res.item_upserts] == ["boot"]
    assert res.applied == 3
    res2 = eng.process([msg(event("d", "u", "boot", T0 + 3, item=new))])
    assert res2.item_upserts == []


def test_rejections_keep_the_original_bytes() -> None:
    eng = _engine()
    raw = b'{"event_id":"x"}'
    res = eng.process(
        [
            Message(raw, topic="t", partition=1, offset=5),
            msg(event("e", "u", "nope", T0)),
            msg(event("f", "u", "run1", T0)),
            msg(event("g", "u", "run2", T0 - 8 * 24 * 60 * MIN)),
            msg(event("h", "u", "run2", T0 + 2 * 24 * 60 * MIN)),
        ],
        now_ms=T0 + 60 * MIN,
    )
    assert [(r.reason, r.offset) for r in res.rejections] == [
        ("missing_field", 5),
        ("unknown_item", -1),
        ("too_late", -1),
        ("future_ts", -1),
    ]
    assert res.rejections[0].value == raw
    assert res.applied == 1


def test_unknown_items_can_be_accepted() -> None:
    eng = _engine(dataclasses.replace(EngineParams(), accept_unknown_items=True))
    res = eng.process(_clicks("u", ["ghost", "run1"]))
    assert res.applied == 2
    assert eng.catalog.row("ghost") is not None
    assert not eng.catalog.recommendable()[eng.catalog.row("ghost")]


def test_duplicates_by_event_id_and_by_offset_change_nothing() -> None:
    eng = _engine(users=CodecUserStore())
    first = [
        msg(event(f"e{i}", "u", it, T0 + i), partition=0, offset=i)
        for i, it in enumerate(["run1", "run2", "pan"])
    ]
    res = eng.process(first)
    assert res.applied == 3
    before = eng.users.get("u")
    assert before is not None
    snapshot = encode_user(before)
    pop = eng.signals.trending.pop.copy()
    again = eng.process(
        [
            *first,  # redelivered: same offsets
            msg(event("e1", "u", "run2", T0 + 1)),  # same id, no offset
            Message(first[0].value, topic="events", partition=0, offset=99),  # same id, new offset
        ]
    )
    assert again.applied == 0
    assert again.duplicates == 5
    after = eng.users.get("u")
    assert after is not None
    assert after.offsets == {"events/0": 99}
    after.offsets = before.offsets
    assert encode_user(after) == snapshot
    assert np.array_equal(eng.signals.trending.pop, pop)


def test_event_id_window_is_bounded() -> None:
    eng = _engine(params_from_mapping({"idempotency": {"event_id_window": 2}}))
    eng.process(_clicks("u", ["run1", "run2", "run3"]))
    st = eng.users.get("u")
    assert st is not None
    assert list(st.event_ids) == ["u-1", "u-2"]


def test_cold_user_gets_trending() -> None:
    eng = _engine()
    eng.process(_clicks("a", ["pan", "pot"]) + _clicks("b", ["pan"]))
    (rec,) = eng.recommend(["nobody"], now_ms=T0)
    assert [i.item_id for i in rec.items][:2] == ["pan", "pot"]
    assert all(i.reasons == ("trending",) for i in rec.items)
    assert rec.ts == T0


def test_a_cold_list_is_k_long_beyond_the_trending_candidates() -> None:
    params = params_from_mapping({"recommend": {"k": 5, "trending_candidates": 2}})
    eng = _engine(params)
    eng.process(_clicks("a", ["pan", "pot", "knife", "run1", "sock"]))
    (rec,) = eng.recommend(["nobody"], now_ms=T0)
    assert len(rec.items) == 5  # the trending top k, though only 2 are warm candidates


def test_new_items_are_reachable_through_their_text() -> None:
    eng = _engine(params_from_mapping({"weights": {"covis": 0, "category": 0, "trending": 0}}))
    eng.process(_clicks("u", ["pan", "pot"]))
    eng.apply_items([msg(item("wok", "steel wok pan", "home/kitchen"))])
    (rec,) = eng.recommend(["u"])
    assert rec.items[0].item_id == "wok"
    assert rec.items[0].reasons == ("similar_to_interests",)


def test_dislike_pushes_similar_items_down_and_out() -> None:
    eng = _engine(params_from_mapping({"weights": {"covis": 0, "trending": 0}}))
    eng.process(_clicks("u", ["run1", "pan"]))
    ids, before = eng.score_items("u", T0)
    eng.process([msg(event("d", "u", "pot", T0 + 5 * MIN, "dislike"))])
    _, after = eng.score_items("u", T0)
    col = {i: j for j, i in enumerate(ids)}
    assert after[col["knife"]] < before[col["knife"]]
    (rec,) = eng.recommend(["u"])
    assert "pot" not in [i.item_id for i in rec.items]
    st = eng.users.get("u")
    assert st is not None
    assert "pot" in st.disliked


def test_forget_user_and_delete_item() -> None:
    eng = _engine()
    eng.process(_clicks("u", ["run1", "run2"]) + _clicks("v", ["run1", "run2"]))
    eng.forget_user("u")
    assert eng.users.get("u") is None
    assert eng.delete_item("run2")
    assert not eng.delete_item("run2")
    (rec,) = eng.recommend(["v"])
    assert "run2" not in [i.item_id for i in rec.items]
    ids, scores = eng.score_items("v", T0)
    assert scores[ids.index("run2")] == -np.inf


def test_score_items_ranks_like_recommend() -> None:
    eng = _engine(params_from_mapping({"recommend": {"diversity": "none", "k": 3}}))
    eng.process(_clicks("u", ["run1", "sock"]) + _clicks("v", ["run1", "run2", "sock"]))
    ids, scores = eng.score_items("u", T0)
    st = eng.users.get("u")
    assert st is not None
    allowed = [(s, i) for i, s in zip(ids, scores, strict=True) if i not in st.consumed]
    want = [i for _, i in sorted(allowed, key=lambda p: (-p[0], ids.index(p[1])))][:3]
    (rec,) = eng.recommend(["u"])
    assert [i.item_id for i in rec.items] == want
    assert [i.score for i in rec.items] == pytest.approx(
        sorted((s for s, _ in allowed), reverse=True)[:3]
    )


def test_diversity_caps_a_leaf() -> None:
    eng = _engine(params_from_mapping({"recommend": {"category_cap": 1, "k": 2}}))
    eng.process(_clicks("u", ["sock"]))
    (rec,) = eng.recommend(["u"])
    leaves = [eng.catalog.path_names(eng.catalog.row(i.item_id) or 0)[-1] for i in rec.items]
    assert len(set(leaves)) == len(leaves)
    mmr = _engine(params_from_mapping({"recommend": {"diversity": "mmr", "k": 3}}))
    mmr.process(_clicks("u", ["sock"]))
    assert len(mmr.recommend(["u"])[0].items) == 3


def test_signal_deltas_converge_across_workers() -> None:
    local = _engine()
    remote_params = dataclasses.replace(EngineParams(), apply_signals_locally=False)
    a, b = _engine(remote_params), _engine(remote_params)
    batch_a = _clicks("u", ["run1", "run2", "sock"])
    batch_b = _clicks("v", ["pan", "pot", "run1"], start=T0 + 5 * MIN)
    local.process(batch_a)
    local.process(batch_b)
    da = a.process(batch_a).signal_deltas
    db = b.process(batch_b).signal_deltas
    for worker in (a, b):
        for d in (da, db):
            worker.apply_signal_deltas(d)
    for worker in (a, b):
        for it in ("run1", "pan"):
            rl, rw = local.catalog.row(it), worker.catalog.row(it)
            assert rl is not None
            assert rw is not None
            tl = local.signals.trending.scores(len(local.catalog))[rl]
            assert worker.signals.trending.scores(len(worker.catalog))[rw] == pytest.approx(tl)
            nl = {local.catalog.ids[n] for n in local.signals.covis.nbr[rl] if n >= 0}
            nw = {worker.catalog.ids[n] for n in worker.signals.covis.nbr[rw] if n >= 0}
            assert nl == nw


def test_counted_events_update_state_but_add_no_increments_of_their_own() -> None:
    """Events whose increments a published batch already holds (``counted``): their user
    state is applied, they add no trending weight, and a pair counts when one of its two
    events is not counted, whichever comes first (after a crash, a user's events on two
    topics may come in another order: v's counted run2 after its fresh pot)."""
    batch = _clicks("u", ["run1", "sock", "pan"]) + _clicks("v", ["pot", "run2"])
    counted = np.array([True, True, False, False, True])
    eng = _engine(dataclasses.replace(EngineParams(), apply_signals_locally=False))
    res = eng.process(batch, counted=counted)
    assert res.applied == 5
    assert [eng.users.get(u).n_events for u in ("u", "v")] == [3, 2]  # type: ignore[union-attr]
    d = res.signal_deltas
    assert sorted(d.items[i] for i in d.pop_item) == ["pan", "pot"]
    pairs = {(d.items[a], d.items[b]) for a, b in zip(d.pair_a, d.pair_b, strict=True)}
    assert pairs == {
        ("pan", "run1"), ("run1", "pan"), ("pan", "sock"), ("sock", "pan"),
        ("run2", "pot"), ("pot", "run2"),
    }  # fmt: skip
    full = _engine(dataclasses.replace(EngineParams(), apply_signals_locally=False))
    every = full.process(batch, counted=np.zeros(5, np.bool_)).signal_deltas
    assert len(every.pop_item) == 5
    assert len(every.pair_a) == 2 * 4  # run1-sock, run1-pan, sock-pan, pot-run2


def test_batch_cuts_do_not_change_the_state() -> None:
    stream = _clicks("u", ["run1", "sock", "run2", "pan", "run3"]) + _clicks(
        "v", ["pan", "pot", "knife"], start=T0 + 30
    )
    whole, cut = _engine(), _engine()
    whole.process(stream)
    for m in stream:
        cut.process([m])
    for user in ("u", "v"):
        a, b = whole.users.get(user), cut.users.get(user)
        assert a is not None
        assert b is not None
        assert_same_values(a, b, T0 + 10 * MIN, whole.params.decay)
        assert a.recent_items == b.recent_items
        assert a.event_ids == b.event_ids
        assert a.drift == b.drift
