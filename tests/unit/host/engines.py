"""Engine factories for the host tests (module-level: a spawned engine process imports them)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry

from encoders.cache import CachedEncoder, MemoryEmbeddingCache
from encoders.metrics import EncoderMetrics
from state.store import CodecUserStore
from streams.core.engine import Engine
from streams.core.params import EngineParams
from streams.host.calls import EngineCalls
from streams.host.staging import StageProxy
from tests.contract.encoder_doubles import HashingEncoder
from tests.unit.core.helpers import msg
from tests.unit.core.test_engine import ITEMS as ENGINE_TEST_ITEMS

ITEMS = ENGINE_TEST_ITEMS[:6]  # the engine tests' catalog, without the knife


def small_calls(
    registry: CollectorRegistry,
    cache_bytes: int = 4 << 20,
    writer: bytes = bytes(16),
    params: EngineParams | None = None,
) -> EngineCalls:
    """A small engine over a staged codec store, with a hashing encoder behind a metered
    cache (so the encoder metrics move), the catalog loaded. Its signal records are marked
    ``writer`` (fixed, so that two engines given the same batches give the same bytes)."""
    metrics = EncoderMetrics(registry)
    encoder = CachedEncoder(HashingEncoder(64), MemoryEmbeddingCache(10_000), metrics=metrics)
    proxy = StageProxy()
    engine = Engine(
        params or EngineParams(), encoder, users=CodecUserStore(proxy, cache_bytes=cache_bytes)
    )
    calls = EngineCalls(engine, proxy, writer)
    calls.apply_items([msg(i) for i in ITEMS])
    return calls


def broken_calls(registry: CollectorRegistry) -> EngineCalls:
    """A factory that fails, as a missing model would."""
    raise RuntimeError("no model at /nowhere")
