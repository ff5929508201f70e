"""``/metrics`` (Prometheus text), ``/health`` and ``/live`` (JSON) on the worker's event loop."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

__all__ = ["start_http"]


async def start_http(
    registry: CollectorRegistry, health: Callable[[], dict[str, Any]], host: str, port: int
) -> tuple[web.AppRunner, int]:
    """Serve until the returned runner is cleaned up; returns it and the bound port.

    ``/health`` (readiness) answers 200 when ``health()["status"] == "ok"``, else 503;
    ``/live`` (liveness) answers 503 only when the status is ``stalled`` or the engine is not
    alive, so a worker loading its catalog or recovering its tables is not restarted for it.
    Both with the dict as JSON.
    """

    async def metrics(_: web.Request) -> web.Response:
        body = generate_latest(registry)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    def answer(state: dict[str, Any], ok: bool) -> web.Response:
        return web.Response(
            text=json.dumps(state), content_type="application/json", status=200 if ok else 503
        )

    async def healthz(_: web.Request) -> web.Response:
        state = health()
        return answer(state, state.get("status") == "ok")

    async def live(_: web.Request) -> web.Response:
        state = health()
        return answer(state, state.get("status") != "stalled" and state.get("engine_alive", True))

    app = web.Application()
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/health", healthz)
    app.router.add_get("/live", live)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    addresses = runner.addresses  # the bound (host, port) pairs, port 0 resolved
    bound = addresses[0][1] if addresses else port
    return runner, int(bound)
