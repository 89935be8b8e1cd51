"""Liveness, readiness and Prometheus metrics."""

from __future__ import annotations

import asyncio

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from server.web_security import metrics_refusal


async def healthz(request: Request) -> JSONResponse:
    """The process is up and its event loop answers."""
    return JSONResponse({"status": "ok", "node": request.app.state.mp.settings.node_id})


async def readyz(request: Request) -> JSONResponse:
    """Postgres and Redis both answer within a second, and the node is not draining."""
    mp = request.app.state.mp
    checks: dict[str, str] = {}
    try:
        async with asyncio.timeout(1.0):
            await mp.pool.fetchval("SELECT 1")
        checks["postgres"] = "ok"
    except Exception as exc:  # any failure means not ready
        checks["postgres"] = f"error: {type(exc).__name__}"
    try:
        async with asyncio.timeout(1.0):
            await mp.redis.ping()
        checks["redis"] = "ok"
    except Exception as exc:
        checks["redis"] = f"error: {type(exc).__name__}"
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
