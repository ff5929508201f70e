"""build_calls: the worker's engine as the settings describe it (the real encoder)."""

from __future__ import annotations

from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from state.store import CodecUserStore
from streams.host.build import build_calls
from streams.settings import Settings


@pytest.mark.parametrize("background", [True, False])
def test_the_worker_engine_rebuilds_its_index_as_the_settings_say(
    tmp_path: Path, background: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("IT_ENCODER_CACHE_DIR", raising=False)  # the state dir's, then
    settings = Settings(state_dir=tmp_path, index_background_build=background, state_cache_mb=1.5)
    registry = CollectorRegistry()
    calls = build_calls(settings, registry)
    engine = calls.engine
    assert engine.item_index.background is background
    assert not engine.params.apply_signals_locally  # deltas come back from the topic
    assert engine.encoder.dim == 384  # the default model, cached in the state dir
    assert (tmp_path / "embeddings").exists()
    # the engine's decoded-state cache reports on the registry the engine forwards
    assert registry.get_sample_value("interest_tracker_state_cache_misses_total") == 0
    assert isinstance(engine.users, CodecUserStore)
    assert engine.users.cache_budget == 1.5 * 2**20
