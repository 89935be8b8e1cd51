"""The console's players screens: search, profile (balances, holds, sessions, limits,
requests), paged ledger history, suspend and lift. Reads for every admin role;
suspending needs `operator` (or superadmin), and is audited."""

from __future__ import annotations

import re
import uuid
from typing import Any, Final

from pydantic import Field
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from ledger import user_account
from server.auth.deps import require_admin
from server.errors import ApiError
from server.limits import service as limits
from server.money.wallets import service as wallets
from server.money.wallets.http import balances_of, transfer_view
from server.state import AppState
from server.web.bodies import StrictBody, read_body

READERS: Final = ("viewer", "operator", "finance")
SUSPENDERS: Final = ("operator",)
MAX_RESULTS: Final = 25
MAX_QUERY_CHARS: Final = 40
MAX_PAGE: Final = 100
DIGITS = re.compile(r"\D+")


class ReasonBody(StrictBody):
    reason: str = Field(min_length=1, max_length=500)


def _uid(request: Request) -> uuid.UUID:
    try:
        return uuid.UUID(request.path_params["user_id"])
    except ValueError as exc:
        raise ApiError(404, "player_not_found", "No such player.") from exc


async def search(request: Request) -> Response:
    """?q= part of a phone number (digits) or of a display name; newest players first."""
    state: AppState = request.app.state.mp
    await require_admin(request, *READERS)
    q = request.query_params.get("q", "").strip()[:MAX_QUERY_CHARS]
    digits = DIGITS.sub("", q)
    if digits.startswith("0"):  # a local number: 0712… is +254712… in the default region
        digits = digits[1:]
    rows = await state.pool.fetch(
        "SELECT u.id, u.phone_e164, u.display_name, u.created_at,"
        " s.reason AS suspended_reason FROM users u"
        " LEFT JOIN player_suspensions s ON s.user_id = u.id"
        " WHERE $1 = '' OR ($2 <> '' AND u.phone_e164 LIKE '%' || $2 || '%')"
        " OR lower(u.display_name) LIKE '%' || lower($1) || '%'"
        " ORDER BY u.created_at DESC LIMIT $3", q, digits, MAX_RESULTS)
    return JSONResponse({"items": [
        {"id": str(r["id"]), "phone": r["phone_e164"], "display_name": r["display_name"],
         "created_at": r["created_at"].isoformat(), "suspended": r["suspended_reason"] is not None}
        for r in rows]})


async def profile(request: Request) -> Response:
    state: AppState = request.app.state.mp
    await require_admin(request, *READERS)
    uid = _uid(request)
    user = await state.pool.fetchrow(
        "SELECT id, phone_e164, display_name, created_at, alerts_enabled FROM users"
        " WHERE id = $1", uid)
    if user is None:
        raise ApiError(404, "player_not_found", "No such player.")
    user_id = str(uid)
    holds = await state.pool.fetch(
        "SELECT t.id, t.amount_minor, t.currency, t.code, t.created_at, t.expires_at, t.meta"
        " FROM transfers t JOIN accounts a ON a.id = t.debit_account_id"
        " WHERE a.owner = $1 AND t.kind = 'pending' AND t.resolved_at IS NULL"
        " ORDER BY t.seq DESC LIMIT 50", user_account(user_id))
    sessions = await state.pool.fetch(
        "SELECT family_id, min(issued_at) AS started, max(issued_at) AS last_used,"
        " max(expires_at) AS expires_at, bool_or(revoked_at IS NOT NULL) AS revoked"
        " FROM refresh_tokens WHERE user_id = $1 GROUP BY family_id"
        " ORDER BY max(issued_at) DESC LIMIT 20", uid)
    async with state.pool.acquire() as conn:
        standing = await limits.standing(conn, state, user_id)
        used_deposit, used_stake = await limits.usage(conn, state, user_id)
    suspension = await state.pool.fetchrow(
        "SELECT s.reason, s.suspended_at, a.username FROM player_suspensions s"
        " LEFT JOIN admins a ON a.id = s.suspended_by WHERE s.user_id = $1", uid)
    deposits = await wallets.list_deposits(state, user_id=user_id, limit=20)
    withdrawals = await wallets.list_withdrawals(state, user_id=user_id, limit=20)
    return JSONResponse({
        "user": {"id": user_id, "phone": user["phone_e164"],
                 "display_name": user["display_name"],
                 "created_at": user["created_at"].isoformat(),
                 "alerts_enabled": user["alerts_enabled"]},
        "balances": await balances_of(state, user_id),
        "holds": [{"id": str(h["id"]), "amount_minor": h["amount_minor"],
                   "currency": h["currency"], "code": h["code"],
                   "created_at": h["created_at"].isoformat(),
                   "expires_at": h["expires_at"].isoformat()} for h in holds],
        "sessions": [{"id": str(s["family_id"]), "started": s["started"].isoformat(),
                      "last_used": s["last_used"].isoformat(),
                      "expires_at": s["expires_at"].isoformat(),
                      "active": not s["revoked"]} for s in sessions],
        "limits": {**standing.public(), "used_deposit_minor": used_deposit,
                   "used_stake_minor": used_stake},
        "suspension": None if suspension is None else {
            "reason": suspension["reason"], "at": suspension["suspended_at"].isoformat(),
            "by": suspension["username"]},
        "deposits": [d.public() for d in deposits],
        "withdrawals": [w.public() for w in withdrawals],
    })


async def ledger_page(request: Request) -> Response:
    """The player's transfers, newest first; ?before=<cursor> pages."""
    state: AppState = request.app.state.mp
    await require_admin(request, *READERS)
    user_id = str(_uid(request))
    raw = request.query_params.get("before")
    if raw is not None and (not raw.isdigit() or len(raw) > 18):
        raise ApiError(400, "invalid_request", "before must be a cursor from next_before.")
    raw_limit = request.query_params.get("limit", "25")
    if not raw_limit.isdigit() or not 1 <= int(raw_limit) <= MAX_PAGE:
        raise ApiError(400, "invalid_request", f"limit must be 1 to {MAX_PAGE}.")
    owner = user_account(user_id)
    items, cursor = await state.ledger.history(
        owner, state.settings.currency, limit=int(raw_limit),
        before=int(raw) if raw is not None else None)
    return JSONResponse({"items": [transfer_view(t, owner) for t in items],
                         "next_before": cursor})


async def suspend(request: Request) -> Response:
    state: AppState = request.app.state.mp
    admin = await require_admin(request, *SUSPENDERS)
    uid = _uid(request)
    body = await read_body(request, ReasonBody)
    if await state.pool.fetchval("SELECT 1 FROM users WHERE id = $1", uid) is None:
        raise ApiError(404, "player_not_found", "No such player.")
    await limits.suspend(state, admin.subject, str(uid), body.reason)
    return JSONResponse({"suspended": True, "reason": body.reason})


async def unsuspend(request: Request) -> Response:
    state: AppState = request.app.state.mp
    admin = await require_admin(request, *SUSPENDERS)
    uid = _uid(request)
    body = await read_body(request, ReasonBody)
    await limits.lift_suspension(state, admin.subject, str(uid), body.reason)
    return JSONResponse({"suspended": False})


def player_names(rows: list[Any]) -> dict[str, str]:
    return {str(r["id"]): str(r["display_name"]) for r in rows}


async def names_of(state: AppState, user_ids: list[str]) -> dict[str, str]:
    ids = [u for u in {*user_ids} if _is_uuid(u)][:1000]
    if not ids:
        return {}
    rows = await state.pool.fetch(
        "SELECT id, display_name FROM users WHERE id = ANY($1::uuid[])", ids)
    return player_names(list(rows))


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True
