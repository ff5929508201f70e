"""What a ``signals`` topic adds up to: the increments its records carry, as every reader
applies them (each batch once and whole), per item and per directed pair, decayed to one
time — free of how the increments were cut into batches, so two runs compare exactly."""

from __future__ import annotations

from collections.abc import Iterable

import pytest

from state.signals import SignalDeltas
from streams.core.params import EngineParams
from streams.kafka.signal_ledger import SignalLedger
from streams.kafka.signals_codec import decode_record

Totals = dict[tuple[str, ...], float]


def applied_once(records: Iterable[bytes]) -> list[SignalDeltas]:
    """The deltas of ``records`` a reader applies (through a :class:`SignalLedger`)."""
    ledger = SignalLedger()
    out: list[SignalDeltas] = []
    for raw in records:
        deltas, mark = decode_record(raw)
        assert mark is not None, "workers mark every signals record with its batch"
        out += ledger.offer(deltas, mark)
    return out


def signal_totals(deltas: Iterable[SignalDeltas], at: int, params: EngineParams) -> Totals:
    """Every trending increment per item (``("pop", item)``) and co-visitation increment per
    directed pair (``("pair", a, b)``), decayed to the time ``at``."""
    out: Totals = {}
    for d in deltas:
        f_pop = 2.0 ** ((d.t_ref - at) / params.trending.half_life_ms)
        f_pair = 2.0 ** ((d.t_ref - at) / params.covis.half_life_ms)
        for i, w in zip(d.pop_item.tolist(), d.pop_w.tolist(), strict=True):
            out["pop", d.items[i]] = out.get(("pop", d.items[i]), 0.0) + w * f_pop
        for a, b, w in zip(d.pair_a.tolist(), d.pair_b.tolist(), d.pair_w.tolist(), strict=True):
            key = ("pair", d.items[a], d.items[b])
            out[key] = out.get(key, 0.0) + w * f_pair
    return out


def assert_same_totals(got: Totals, want: Totals, rel: float = 1e-9) -> None:
    """The same increments, each counted once."""
    assert got.keys() == want.keys()
    for key, weight in want.items():
        assert got[key] == pytest.approx(weight, rel=rel), key
