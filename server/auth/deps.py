"""Route guards: who is calling, from the Bearer access token."""

from __future__ import annotations

import uuid

from starlette.requests import Request

from server.auth.tokens import Principal, TokenError, decode_access_token
from server.errors import ApiError

ADMIN_ROLES = ("viewer", "operator", "finance", "superadmin")


def _principal(request: Request) -> Principal:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if not header:
        raise ApiError(401, "token_missing", "Send an access token: Authorization: Bearer <token>.")
    if scheme.lower() != "bearer" or not token.strip():
        raise ApiError(401, "token_invalid", "The Authorization header must be 'Bearer <token>'.")
    try:
        return decode_access_token(request.app.state.mp.jwt_secret, token.strip())
    except TokenError as exc:
        raise ApiError(401, exc.code, exc.msg) from exc


async def require_player(request: Request) -> Principal:
    """The player calling this route; 401 without a valid token, 403 for an admin token."""
    principal = _principal(request)
    if principal.kind != "player":
        raise ApiError(403, "forbidden", "This route is for players.")
    return principal


async def require_admin(request: Request, *roles: str) -> Principal:
    """The admin calling; with `roles`, one of them is required (superadmin may do anything).

    The admin row is read on every call, so disabling an admin takes effect at once.
    """
    assert all(r in ADMIN_ROLES for r in roles), roles
    principal = _principal(request)
    if principal.kind != "admin":
        raise ApiError(403, "forbidden", "This route is for admins.")
    try:
        admin_id = uuid.UUID(principal.subject)
    except ValueError as exc:
        raise ApiError(401, "token_invalid", "The access token is not valid.") from exc
    row = await request.app.state.mp.pool.fetchrow(
        "SELECT role, disabled FROM admins WHERE id = $1", admin_id
    )
    if row is None or row["disabled"]:
        raise ApiError(401, "token_invalid", "This admin account is disabled.")
    role = row["role"]
    if roles and role not in roles and role != "superadmin":
        raise ApiError(403, "forbidden", f"This action needs the role {' or '.join(roles)}.")
    return Principal(principal.subject, "admin", role, principal.expires_at)
