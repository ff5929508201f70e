"""The worker's HTTP endpoints: readiness on ``/health``, liveness on ``/live``, metrics."""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, Counter

from streams.faust_app.http import start_http


def _get(port: int, path: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()


@pytest.mark.parametrize(
    ("status", "engine_alive", "ready", "alive"),
    [
        ("ok", True, 200, 200),
        ("starting", True, 503, 200),  # loading the catalog, recovering tables: not dead
        ("stalled", True, 503, 503),
        ("ok", False, 200, 503),
    ],
)
def test_readiness_and_liveness(status: str, engine_alive: bool, ready: int, alive: int) -> None:
    registry = CollectorRegistry()
    Counter("probe", "a counter", registry=registry).inc()
    state: dict[str, Any] = {"status": status, "engine_alive": engine_alive, "stalled_s": 0.0}

    async def scenario() -> list[tuple[int, str]]:
        runner, port = await start_http(registry, lambda: state, "127.0.0.1", 0)
        try:
            paths = ("/health", "/live", "/metrics")
            return [await asyncio.to_thread(_get, port, p) for p in paths]
        finally:
            await runner.cleanup()

    (h_code, h_body), (l_code, l_body), (m_code, m_body) = asyncio.run(scenario())
    assert (h_code, l_code) == (ready, alive)
    assert json.loads(h_body) == json.loads(l_body) == state
    assert m_code == 200
    assert "probe_total 1.0" in m_body
