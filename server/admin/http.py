"""Admin login and the audit log over HTTP."""

from __future__ import annotations

import uuid

from pydantic import Field
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from server import metrics
from server.admin.accounts import authenticate
from server.admin.audit import audit
from server.auth.deps import require_admin
from server.auth.tokens import issue_access_token
from server.errors import ApiError
from server.state import AppState
from server.web.bodies import StrictBody, read_body

MAX_AUDIT_PAGE = 200
LOGIN_FAILURES_MAX = 10  # per username per window, then 429 until the window ends
LOGIN_WINDOW_S = 900


class LoginBody(StrictBody):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=256)


async def login(request: Request) -> Response:
    state: AppState = request.app.state.mp
    body = await read_body(request, LoginBody)
    key = f"{state.settings.redis_prefix}:admin_login_failures:{body.username.lower()}"
    failures = int(await state.redis.get(key) or 0)
    if failures >= LOGIN_FAILURES_MAX:
        wait_s = max(int(await state.redis.ttl(key)), 1)
        metrics.ERRORS.labels(code="login_rate_limited").inc()
        return JSONResponse(
            {"code": "login_rate_limited", "msg": f"Too many failed logins; wait {wait_s} s."},
            429, headers={"Retry-After": str(wait_s)},
        )
    admin = await authenticate(state.pool, body.username, body.password)
    if admin is None:
        async with state.redis.pipeline(transaction=True) as pipe:
            pipe.set(key, 0, ex=LOGIN_WINDOW_S, nx=True)  # the window starts at the 1st failure
            pipe.incr(key)
            await pipe.execute()
        metrics.LOGINS.labels("admin", "refused").inc()
        raise ApiError(401, "invalid_credentials", "Wrong username or password.")
    await state.redis.delete(key)
    metrics.LOGINS.labels("admin", "ok").inc()
    async with state.pool.acquire() as conn, conn.transaction():
        await audit(conn, admin.id, "admin.login", f"admin:{admin.id}", {})
    ttl_s = state.settings.jwt_access_ttl_s
    token = issue_access_token(state.jwt_secret, admin.id, "admin", ttl_s, role=admin.role)
    return JSONResponse(
        {"access_token": token, "token_type": "bearer", "expires_in": ttl_s,
         "admin": admin.public()}
    )


def _int_param(request: Request, name: str, default: int, lo: int, hi: int) -> int:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    if not raw.isdigit() or not lo <= int(raw) <= hi:
        raise ApiError(400, "invalid_request", f"{name} must be an integer from {lo} to {hi}.")
    return int(raw)


async def audit_log(request: Request) -> Response:
    """Newest first; ?target= narrows to one object, ?before=<id> pages."""
    state: AppState = request.app.state.mp
    await require_admin(request, "viewer", "operator", "finance")
    limit = _int_param(request, "limit", 50, 1, MAX_AUDIT_PAGE)
    before = _int_param(request, "before", 2**62, 1, 2**62)
    target = request.query_params.get("target")
    rows = await state.pool.fetch(
        "SELECT a.id, a.admin_id, m.username, a.action, a.target, a.detail, a.at"
        " FROM audit_log a LEFT JOIN admins m ON m.id = a.admin_id"
        " WHERE a.id < $1 AND ($2::text IS NULL OR a.target = $2)"
        " ORDER BY a.id DESC LIMIT $3",
        before, target, limit,
    )
    items = [
        {"id": r["id"], "admin_id": str(r["admin_id"]) if r["admin_id"] else None,
         "admin": r["username"], "action": r["action"], "target": r["target"],
         "detail": r["detail"], "at": r["at"].isoformat()}
        for r in rows
    ]
    next_before = items[-1]["id"] if len(items) == limit else None
    return JSONResponse({"items": items, "next_before": next_before})


async def whoami(request: Request) -> Response:
    state: AppState = request.app.state.mp
    principal = await require_admin(request)
    row = await state.pool.fetchrow(
        "SELECT username FROM admins WHERE id = $1", uuid.UUID(principal.subject)
    )
    assert row is not None
    return JSONResponse({"id": principal.subject, "username": row["username"],
                         "role": principal.role})


routes = [
    Route("/admin/login", login, methods=["POST"]),
    Route("/admin/me", whoami, methods=["GET"]),
    Route("/admin/audit", audit_log, methods=["GET"]),
]
