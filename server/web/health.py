"""Liveness, readiness and Prometheus metrics."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from server.state import Slot
from server.web_security import metrics_refusal


async def healthz(request: Request) -> JSONResponse:
    """The process is up and its event loop answers."""
    return JSONResponse({"status": "ok", "node": request.app.state.mp.settings.node_id})


# A probe still running from an earlier /readyz (its service froze): service -> task.
_PROBES: Slot[dict[str, Any]] = Slot("readyz_probes", dict)


async def _probe(
    state: Any, name: str, check: Callable[[], Awaitable[object]], timeout_s: float
) -> str:
    """Run one check, answering within `timeout_s` whatever the check does.

    The check runs in its own task and is not awaited past the deadline: cancelling a query
    on a frozen Postgres waits for the server, which is exactly what must not block the
    answer. A check still running from an earlier call is not started again, so a frozen
    service holds at most one pooled connection for probes, until it answers or the pool's
    own timeouts end the check.
    """
    probes: dict[str, asyncio.Task[object]] = state.find(_PROBES) or state.provide(_PROBES, {})
    task = probes.get(name)
    if task is None or task.done():
        task = asyncio.ensure_future(check())
        task.add_done_callback(lambda t: t.cancelled() or t.exception())  # always retrieved
        probes[name] = task
    done, _ = await asyncio.wait({task}, timeout=timeout_s)
    if not done:
        return "error: timeout"
    probes.pop(name, None)
    exc = task.exception()
    return "ok" if exc is None else f"error: {type(exc).__name__}"


async def readyz(request: Request) -> JSONResponse:
    """Postgres and Redis both answer within `readyz_timeout_s`, and the node is not draining."""
    mp = request.app.state.mp
    timeout_s = mp.settings.readyz_timeout_s
    pg, rd = await asyncio.gather(
        _probe(mp, "postgres", lambda: mp.pool.fetchval("SELECT 1", timeout=timeout_s),
               timeout_s),
        _probe(mp, "redis", mp.redis.ping, timeout_s),
    )
    checks: dict[str, str] = {"postgres": pg, "redis": rd}
    if mp.draining:
        checks["node"] = "draining"
    ready = all(v == "ok" for v in checks.values())
    return JSONResponse({"ready": ready, "checks": checks}, status_code=200 if ready else 503)


async def metrics(request: Request) -> Response:
    if (refused := metrics_refusal(request)) is not None:
        return refused
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)


routes = [
    Route("/healthz", healthz),
    Route("/readyz", readyz),
    Route("/metrics", metrics),
]
