"""Build the worker's engine from the settings (in the worker's process or the engine's)."""

from __future__ import annotations

import dataclasses

from prometheus_client import CollectorRegistry

from encoders.settings import EncoderSettings
from state.store import CodecUserStore
from streams.core.config import load_params
from streams.core.engine import Engine
from streams.host.calls import EngineCalls
from streams.host.staging import StageProxy
from streams.host.state_cache import StateCacheMetrics
from streams.settings import Settings

__all__ = ["build_calls"]


def build_calls(settings: Settings, registry: CollectorRegistry) -> EngineCalls:
    """The encoder (its metrics on ``registry``; vectors cached in the state dir unless the
    encoder settings name a cache dir), the engine over a staged user store (its
    decoded-state cache's counters on ``registry``), and its calls.

    Signal deltas are applied when they come back from the ``signals`` topic, never locally,
    so every worker applies every worker's deltas exactly once. The item index of a large
    catalog is rebuilt in a thread unless ``index_background_build`` is off, so that no
    batch waits for a rebuild.

    The encoder's modules (torch, transformers) are imported here, not with this module: a
    worker whose engine runs in a child process never loads them itself.
    """
    from encoders.factory import build_encoder  # noqa: PLC0415 - see above

    encoder_settings = EncoderSettings()
    if encoder_settings.cache_dir is None:  # vectors survive restarts in the state dir
        encoder_settings = encoder_settings.model_copy(
            update={"cache_dir": settings.state_dir / "embeddings"}
        )
    encoder = build_encoder(encoder_settings, registry)
    params = dataclasses.replace(load_params(settings.engine_config), apply_signals_locally=False)
    proxy = StageProxy()
    users = CodecUserStore(proxy, cache_bytes=int(settings.state_cache_mb * 2**20))
    StateCacheMetrics(users, registry)
    engine = Engine(params, encoder, users=users)
    engine.index_in_background(settings.index_background_build)
    return EngineCalls(engine, proxy)
