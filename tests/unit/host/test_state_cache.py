"""The decoded-state cache's counters on a registry, as the worker exports them."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, generate_latest

from state.codec import encode_user
from state.store import CodecUserStore, cached_bytes
from state.user import UserState
from streams.host.state_cache import StateCacheMetrics


def _value(registry: CollectorRegistry, name: str) -> float | None:
    return registry.get_sample_value(name)


def test_hits_misses_and_held_states_follow_the_store() -> None:
    registry = CollectorRegistry()
    data: dict[str, bytes] = {}
    entry = cached_bytes(UserState.new("u0", 2), len(encode_user(UserState.new("u0", 2))))
    store = CodecUserStore(data, cache_bytes=2 * entry)
    StateCacheMetrics(store, registry)
    assert _value(registry, "interest_tracker_state_cache_hits_total") == 0
    assert _value(registry, "interest_tracker_state_cache_misses_total") == 0
    for i in range(3):
        store.put(UserState.new(f"u{i}", 2))
    assert _value(registry, "interest_tracker_state_cache_states") == 2
    assert _value(registry, "interest_tracker_state_cache_bytes") == 2 * entry
    store.get("u0")  # dropped from the cache: decoded
    store.get("u1")  # cached: served
    store.get("nobody")  # no stored state: neither
    assert _value(registry, "interest_tracker_state_cache_hits_total") == 1
    assert _value(registry, "interest_tracker_state_cache_misses_total") == 1
    assert _value(registry, "interest_tracker_state_cache_states") == 1
    assert _value(registry, "interest_tracker_state_cache_bytes") == entry
    text = generate_latest(registry).decode()
    assert "# TYPE interest_tracker_state_cache_hits_total counter" in text
