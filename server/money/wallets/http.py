"""Wallet routes for players (/me, /wallet, requests) and for finance admins (decisions).

Thin: parse and authorise here, the rules live in server.money.wallets.service.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import Field
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ledger import Balance, Transfer, user_account
from server.auth.deps import require_admin, require_player
from server.auth.users import get_user
from server.errors import ApiError
from server.money.wallets import service
from server.state import AppState
from server.web.bodies import StrictBody, read_body

MAX_HISTORY_PAGE = 100
MAX_CURSOR_DIGITS = 18
CURRENCY_RE = re.compile(r"[A-Za-z]{3,8}")
DECIDERS = ("finance",)  # and superadmin, always
READERS = ("viewer", "operator", "finance")


class DepositBody(StrictBody):
    amount_minor: int
    reference: str = Field(min_length=1, max_length=64)


class WithdrawalBody(StrictBody):
    amount_minor: int
    destination: str | None = Field(default=None, min_length=1, max_length=64)


class RejectBody(StrictBody):
    reason: str = Field(min_length=1, max_length=500)


def _state(request: Request) -> AppState:
    return request.app.state.mp  # type: ignore[no-any-return]



def _limit(request: Request, default: int, hi: int) -> int:
    raw = request.query_params.get("limit")
    if raw is None:
        return default
    if not raw.isdigit() or not 1 <= int(raw) <= hi:
        raise ApiError(400, "invalid_request", f"limit must be an integer from 1 to {hi}.")
    return int(raw)


def balance_view(b: Balance) -> dict[str, Any]:
    return {
        "currency": b.currency, "posted_minor": b.posted_minor,
        "held_minor": b.pending_debits_minor, "available_minor": b.available_minor,
    }


def transfer_view(t: Transfer, owner: str) -> dict[str, Any]:
    """A transfer as its owner sees it: in or out of their account."""
    return {
        "id": str(t.id), "kind": t.kind.value, "code": t.code, "amount_minor": t.amount_minor,
        "currency": t.currency, "direction": "in" if t.credit == owner else "out",
        "created_at": t.created_at.isoformat(), "resolved": t.resolved,
    }


async def balances_of(state: AppState, user_id: str) -> list[dict[str, Any]]:
    """Every currency the player holds, and the home currency even before any deposit."""
    found = await state.ledger.balances(user_account(user_id))
    views = [balance_view(b) for b in found]
    if not any(v["currency"] == state.settings.currency for v in views):
        views.insert(0, {"currency": state.settings.currency, "posted_minor": 0,
                         "held_minor": 0, "available_minor": 0})
    return views


async def me(request: Request) -> Response:
    state = _state(request)
    principal = await require_player(request)
    user = await get_user(state.pool, principal.subject)
    if user is None:
        raise ApiError(401, "token_invalid", "This account no longer exists.")
    return JSONResponse({
        "user": user.public(), "balances": await balances_of(state, user.id),
        "money_mode": state.settings.money_mode,
    })


async def wallet(request: Request) -> Response:
    state = _state(request)
    principal = await require_player(request)
    currency = request.query_params.get("currency", state.settings.currency)
    if not CURRENCY_RE.fullmatch(currency):
        raise ApiError(400, "invalid_request", "currency must be a currency code like KES.")
    limit = _limit(request, 20, MAX_HISTORY_PAGE)
    raw_before = request.query_params.get("before")
    before: int | None = None
    if raw_before is not None:
        if not raw_before.isdigit() or len(raw_before) > MAX_CURSOR_DIGITS:
            raise ApiError(400, "invalid_request", "before must be a cursor from next_before.")
        before = int(raw_before)
    owner = user_account(principal.subject)
    transfers, next_cursor = await state.ledger.history(
        owner, currency.upper(), limit=limit, before=before
    )
    return JSONResponse({
        "balances": await balances_of(state, principal.subject),
        "currency": currency.upper(),
        "history": [transfer_view(t, owner) for t in transfers],
        "next_before": next_cursor,
    })


# Player requests -----------------------------------------------------------------------------


async def create_deposit(request: Request) -> Response:
    state = _state(request)
    principal = await require_player(request)
    body = await read_body(request, DepositBody)
    dep, created = await service.request_deposit(
        state, principal.subject, body.amount_minor, body.reference
    )
    return JSONResponse(dep.public(), 201 if created else 200)


async def my_deposits(request: Request) -> Response:
    state = _state(request)
    principal = await require_player(request)
    items = await service.list_deposits(
        state, user_id=principal.subject, limit=_limit(request, 50, service.MAX_LIST)
    )
    return JSONResponse({"items": [d.public() for d in items]})


async def create_withdrawal(request: Request) -> Response:
    state = _state(request)
    principal = await require_player(request)
    body = await read_body(request, WithdrawalBody)
    key = request.headers.get("idempotency-key")
    w, created = await service.request_withdrawal_once(
        state, principal.subject, body.amount_minor, body.destination, key
    )
    return JSONResponse(w.public(), 201 if created else 200)


async def my_withdrawals(request: Request) -> Response:
    state = _state(request)
    principal = await require_player(request)
    items = await service.list_withdrawals(
        state, user_id=principal.subject, limit=_limit(request, 50, service.MAX_LIST)
    )
    return JSONResponse({"items": [w.public() for w in items]})


async def my_withdrawal(request: Request) -> Response:
    state = _state(request)
    principal = await require_player(request)
    w = await service.get_withdrawal(state, request.path_params["id"])
    if w is None or w.user_id != principal.subject:  # someone else's looks like no such thing
        raise ApiError(404, "withdrawal_not_found", "No such withdrawal.")
    return JSONResponse(w.public())


async def my_deposit(request: Request) -> Response:
    state = _state(request)
    principal = await require_player(request)
    d = await service.get_deposit(state, request.path_params["id"])
    if d is None or d.user_id != principal.subject:
        raise ApiError(404, "deposit_not_found", "No such deposit.")
    return JSONResponse(d.public())


# Admin decisions -----------------------------------------------------------------------------


def _state_param(request: Request, allowed: tuple[str, ...]) -> str | None:
    value = request.query_params.get("state")
    if value is not None and value not in allowed:
        raise ApiError(400, "invalid_request", f"state must be one of {', '.join(allowed)}.")
    return value


async def admin_deposits(request: Request) -> Response:
    state = _state(request)
    await require_admin(request, *READERS)
    status = _state_param(request, ("pending", "approved", "rejected"))
    items = await service.list_deposits(
        state, status=status, limit=_limit(request, 50, service.MAX_LIST)
    )
    return JSONResponse({"items": [d.public() for d in items]})


async def approve_deposit(request: Request) -> Response:
    state = _state(request)
    admin = await require_admin(request, *DECIDERS)
    dep = await service.credit_deposit(
        state, request.path_params["id"], admin_id=admin.subject
    )
    return JSONResponse(dep.public())


async def reject_deposit(request: Request) -> Response:
    state = _state(request)
    admin = await require_admin(request, *DECIDERS)
    body = await read_body(request, RejectBody)
    dep = await service.reject_deposit(
        state, request.path_params["id"], admin_id=admin.subject, reason=body.reason
    )
    return JSONResponse(dep.public())


async def admin_withdrawals(request: Request) -> Response:
    state = _state(request)
    await require_admin(request, *READERS)
    status = _state_param(request, ("pending", "approved", "rejected", "failed"))
    items = await service.list_withdrawals(
        state, status=status, limit=_limit(request, 50, service.MAX_LIST)
    )
    return JSONResponse({"items": [w.public() for w in items]})


async def reject_withdrawal(request: Request) -> Response:
    state = _state(request)
    admin = await require_admin(request, *DECIDERS)
    body = await read_body(request, RejectBody)
    w = await service.complete_withdrawal(
        state, request.path_params["id"], paid=False, provider_ref=None,
        admin_id=admin.subject, reason=body.reason,
    )
    return JSONResponse(w.public())


routes = [
    Route("/me", me, methods=["GET"]),
    Route("/wallet", wallet, methods=["GET"]),
    Route("/wallet/deposits", create_deposit, methods=["POST"]),
    Route("/wallet/deposits", my_deposits, methods=["GET"]),
    Route("/wallet/deposits/{id}", my_deposit, methods=["GET"]),
    Route("/wallet/withdrawals", create_withdrawal, methods=["POST"]),
    Route("/wallet/withdrawals", my_withdrawals, methods=["GET"]),
    Route("/wallet/withdrawals/{id}", my_withdrawal, methods=["GET"]),
    Route("/admin/deposits", admin_deposits, methods=["GET"]),
    Route("/admin/deposits/{id}/approve", approve_deposit, methods=["POST"]),
    Route("/admin/deposits/{id}/reject", reject_deposit, methods=["POST"]),
    Route("/admin/withdrawals", admin_withdrawals, methods=["GET"]),
    Route("/admin/withdrawals/{id}/reject", reject_withdrawal, methods=["POST"]),
]
