"""Admin login and the audit log over HTTP.

Login limits: verifying a password costs an argon2 hash (64 MiB, tens of ms), and
anyone can ask for one, also for a username that does not exist. So every attempt
is counted in Redis *before* the hash (server/auth/limits.py), per username and
per client IP; over either limit it is answered 429 without hashing. A successful
login gives its attempts back, so the counters measure failures plus attempts in
flight. Hashes also run at most `admin_login_hash_concurrency` at a time per
process, which bounds the memory a burst from many addresses can take.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Final

from pydantic import Field
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from server import metrics
from server.admin.accounts import Admin, authenticate
from server.admin.audit import audit
from server.auth import limits, sessions
from server.auth.deps import require_admin
from server.auth.tokens import issue_access_token
from server.errors import ApiError
from server.state import AppState, Slot
from server.web.bodies import StrictBody, read_body

MAX_AUDIT_PAGE = 200
HASH_WAIT_S: Final = 5.0  # how long a login waits for a free hashing slot before 503
HASH_SLOTS_KEY: Final = "admin_login_hash_slots"


class LoginBody(StrictBody):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=256)


def _rate_limited(wait_s: int) -> JSONResponse:
    metrics.ERRORS.labels(code="login_rate_limited").inc()
    return JSONResponse(
        {"code": "login_rate_limited", "msg": f"Too many failed logins; wait {wait_s} s."},
        429, headers={"Retry-After": str(wait_s)},
    )


HASH_SLOTS: Slot[asyncio.Semaphore] = Slot("admin_hash_slots", asyncio.Semaphore)


def _hash_slots(state: AppState) -> asyncio.Semaphore:
    """Password hashes at once on this node (each costs 64 MiB): a semaphore made on first use."""
    return state.find(HASH_SLOTS) or state.provide(
        HASH_SLOTS, asyncio.Semaphore(max(1, state.settings.admin_login_hash_concurrency)))


async def _authenticate_bounded(state: AppState, username: str, password: str) -> Admin | None:
    """authenticate() in one of the process's few hashing slots, or 503 if none frees up."""
    slots = _hash_slots(state)
    try:
        async with asyncio.timeout(HASH_WAIT_S):
            await slots.acquire()
    except TimeoutError:
        raise ApiError(503, "login_busy", "Too many logins at once; try again.") from None
    try:
        return await authenticate(state.pool, username, password)
    finally:
        slots.release()


async def login(request: Request) -> Response:
    state: AppState = request.app.state.mp
    s = state.settings
    body = await read_body(request, LoginBody)
    name_key = limits.counter_key(s.redis_prefix, "admin_login_name", body.username.lower())
    ip_key = limits.counter_key(s.redis_prefix, "admin_login_ip", limits.client_ip(request))
    by_name = await limits.hit(state.redis, name_key, s.admin_login_window_s)
    by_ip = await limits.hit(state.redis, ip_key, s.admin_login_window_s)
    if by_name.over(s.admin_login_max_per_name) or by_ip.over(s.admin_login_max_per_ip):
        over = [h for h, m in ((by_name, s.admin_login_max_per_name),
                               (by_ip, s.admin_login_max_per_ip)) if h.over(m)]
        return _rate_limited(max(h.retry_after_s for h in over))
    admin = await _authenticate_bounded(state, body.username, body.password)
    if admin is None:
        metrics.LOGINS.labels("admin", "refused").inc()
        raise ApiError(401, "invalid_credentials", "Wrong username or password.")
    # The password was right: this name's failures are forgiven, and this attempt is
    # not held against the address (other names' failures from it still count).
    await state.redis.delete(name_key)
    await limits.give_back(state.redis, ip_key)
    metrics.LOGINS.labels("admin", "ok").inc()
    async with state.pool.acquire() as conn, conn.transaction():
        await audit(conn, admin.id, "admin.login", f"admin:{admin.id}", {})
    ttl_s = state.settings.jwt_access_ttl_s
    token = issue_access_token(
        state.jwt_secret, admin.id, "admin", ttl_s, role=admin.role,
        session_id=uuid.uuid4().hex,
    )
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


async def logout(request: Request) -> Response:
    """End this admin session everywhere: its access tokens stop working at once."""
    state: AppState = request.app.state.mp
    principal = await require_admin(request)
    if principal.session_id:
        async with state.pool.acquire() as conn, conn.transaction():
            await audit(conn, principal.subject, "admin.logout", f"admin:{principal.subject}", {})
        await sessions.revoke(state, principal.subject, principal.session_id)
    return Response(status_code=204)


routes = [
    Route("/admin/login", login, methods=["POST"]),
    Route("/admin/logout", logout, methods=["POST"]),
    Route("/admin/me", whoami, methods=["GET"]),
    Route("/admin/audit", audit_log, methods=["GET"]),
]
