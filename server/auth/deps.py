"""Route guards: who is calling, from the Bearer access token.

A valid signature is not enough: the session may have been logged out
(server/auth/sessions.py), the player may no longer exist, the admin may be
disabled. Every guard checks those here, so every route answers a clean 401
instead of failing further down (a missing user used to be a plain-text 500).
"""

from __future__ import annotations

import uuid

from starlette.requests import Request

from server.auth import sessions
from server.auth.tokens import Principal, TokenError, decode_access_token
from server.errors import ApiError
from server.state import AppState

ADMIN_ROLES = ("viewer", "operator", "finance", "superadmin")
MAX_TOKEN_CHARS = 4096


async def authenticate_token(state: AppState, token: str) -> Principal:
    """The principal of a valid, unexpired access token of a live session, or TokenError."""
    if not token or len(token) > MAX_TOKEN_CHARS:
        raise TokenError("token_invalid", "The access token is not valid.")
    principal = decode_access_token(state.jwt_secret, token)
    if await sessions.is_revoked(state, principal.session_id):
        raise TokenError("session_revoked", "This session was logged out; log in again.")
    return principal


async def active_admin(state: AppState, principal: Principal) -> Principal:
    """`principal` with its current role if it is an enabled admin, else TokenError.

    The admin row is read on every call, so disabling an admin takes effect at once.
    """
    if principal.kind != "admin":
        raise TokenError("forbidden", "This is not an admin token.")
    try:
        admin_id = uuid.UUID(principal.subject)
    except ValueError as exc:
        raise TokenError("token_invalid", "The access token is not valid.") from exc
    row = await state.pool.fetchrow("SELECT role, disabled FROM admins WHERE id = $1", admin_id)
    if row is None or row["disabled"]:
        raise TokenError("token_invalid", "This admin account is disabled.")
    return Principal(
        principal.subject, "admin", row["role"], principal.expires_at, principal.session_id
    )


async def authenticate_admin_token(state: AppState, token: str) -> Principal:
    """The enabled admin an access token speaks for (for sockets such as /admin/ws).

    Raises TokenError (code `token_invalid`, `token_expired`, `session_revoked` or
    `forbidden`) for anything else, including a disabled admin.
    """
    return await active_admin(state, await authenticate_token(state, token))


async def _principal(request: Request) -> Principal:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if not header:
        raise ApiError(401, "token_missing", "Send an access token: Authorization: Bearer <token>.")
    if scheme.lower() != "bearer" or not token.strip():
        raise ApiError(401, "token_invalid", "The Authorization header must be 'Bearer <token>'.")
    try:
        return await authenticate_token(request.app.state.mp, token.strip())
    except TokenError as exc:
        raise ApiError(401, exc.code, exc.msg) from exc


async def require_player(request: Request) -> Principal:
    """The player calling this route; 401 without a valid token or for a player that does
    not exist (`session_invalid`), 403 for an admin token."""
    principal = await _principal(request)
    if principal.kind != "player":
        raise ApiError(403, "forbidden", "This route is for players.")
    try:
        user_id = uuid.UUID(principal.subject)
    except ValueError:
        user_id = None
    state: AppState = request.app.state.mp
    if user_id is None or await state.pool.fetchval(
        "SELECT 1 FROM users WHERE id = $1", user_id
    ) is None:
        raise ApiError(401, "session_invalid", "This session's player does not exist; log in.")
    return principal


async def require_admin(request: Request, *roles: str) -> Principal:
    """The admin calling; with `roles`, one of them is required (superadmin may do anything)."""
    assert all(r in ADMIN_ROLES for r in roles), roles
    principal = await _principal(request)
    if principal.kind != "admin":
        raise ApiError(403, "forbidden", "This route is for admins.")
    try:
        admin = await active_admin(request.app.state.mp, principal)
    except TokenError as exc:
        raise ApiError(401, exc.code, exc.msg) from exc
    role = admin.role
    if roles and role not in roles and role != "superadmin":
        raise ApiError(403, "forbidden", f"This action needs the role {' or '.join(roles)}.")
    return admin
