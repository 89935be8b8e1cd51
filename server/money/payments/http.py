"""Payment routes: Daraja callbacks (secret path token), deposits and B2C payouts.

Daraja signs nothing, so each callback URL carries a secret token; a wrong token
is a 404 and changes nothing. A valid callback is always acknowledged with
{"ResultCode": 0, "ResultDesc": "Accepted"} so Daraja stops resending it.
"""

from __future__ import annotations

import hmac
import ipaddress
import json
from typing import Any
from urllib.parse import urlsplit

import structlog
from pydantic import Field
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from server import metrics
from server.auth.deps import require_admin, require_player
from server.config import Settings
from server.errors import ApiError
from server.money.payments import b2c, mpesa
from server.money.payments.reconcile import reconcile_forever
from server.money.payments.service import (
    DARAJA,
    PaymentError,
    apply_stk_result,
    record_callback,
    start_deposit,
)
from server.state import AppState
from server.web.bodies import StrictBody, read_body, read_raw_body

log = structlog.get_logger(__name__)

ACCEPTED = {"ResultCode": 0, "ResultDesc": "Accepted"}
CALLBACK_MAX_BYTES = 16 * 1024


def _state(request: Request) -> AppState:
    state: AppState = request.app.state.mp
    return state


def _check_token(request: Request) -> AppState:
    state = _state(request)
    expected = state.settings.mpesa_callback_token
    given = str(request.path_params.get("token", ""))
    if not expected or not hmac.compare_digest(given.encode(), expected.encode()):
        raise ApiError(404, "not_found", "Not found.")
    return state


async def _json_body(request: Request) -> Any:
    raw = await read_raw_body(request, CALLBACK_MAX_BYTES)
    try:
        return json.loads(raw)
    except (ValueError, RecursionError):
        return None


async def stk_callback(request: Request) -> Response:
    state = _check_token(request)
    body = await _json_body(request)
    try:
        result = mpesa.parse_stk_callback(body)
    except mpesa.MpesaFormatError:
        metrics.MPESA_CALLBACKS.labels("stk", "invalid").inc()
        log.warning("mpesa_stk_callback_invalid")
        return JSONResponse(ACCEPTED)
    await record_callback(state, "stk", result.checkout_request_id, body)
    outcome = await apply_stk_result(state, result)
    metrics.MPESA_CALLBACKS.labels("stk", outcome).inc()
    log.info("mpesa_stk_callback", checkout=result.checkout_request_id,
             code=result.result_code, outcome=outcome)
    return JSONResponse(ACCEPTED)


async def _b2c_callback(request: Request, kind: str, apply: Any) -> Response:
    """A B2C result or queue-timeout notice: parse, keep the raw body, apply once, accept."""
    state = _check_token(request)
    body = await _json_body(request)
    try:
        result = mpesa.parse_b2c_result(body)
    except mpesa.MpesaFormatError:
        metrics.MPESA_CALLBACKS.labels(kind, "invalid").inc()
        return JSONResponse(ACCEPTED)
    await record_callback(state, kind, result.originator_conversation_id, body)
    outcome = await apply(state, result)
    metrics.MPESA_CALLBACKS.labels(kind, outcome).inc()
    return JSONResponse(ACCEPTED)


async def b2c_result(request: Request) -> Response:
    """Posts or voids the withdrawal hold, exactly once."""
    return await _b2c_callback(request, "b2c_result", b2c.apply_b2c_result)


async def b2c_timeout(request: Request) -> Response:
    """Daraja's queue timed out: recorded, not a failure; the payout stays pending."""
    return await _b2c_callback(request, "b2c_timeout", b2c.record_b2c_timeout)


async def b2c_status(request: Request) -> Response:
    """A Transaction Status result (reconciliation asked): settles the payout it names
    when M-Pesa knows the outcome; anything else changes nothing."""
    state = _check_token(request)
    body = await _json_body(request)
    try:
        status = mpesa.parse_b2c_status(body)
    except mpesa.MpesaFormatError:
        metrics.MPESA_CALLBACKS.labels("b2c_status", "invalid").inc()
        return JSONResponse(ACCEPTED)
    await record_callback(state, "b2c_status", status.payout_originator_id, body)
    outcome = await b2c.apply_b2c_status(state, status)
    metrics.MPESA_CALLBACKS.labels("b2c_status", outcome).inc()
    log.info("mpesa_b2c_status", originator=status.payout_originator_id,
             status=status.status, outcome=outcome)
    return JSONResponse(ACCEPTED)


class DepositBody(StrictBody):
    amount_minor: int = Field(gt=0)


async def create_deposit(request: Request) -> Response:
    """Start a deposit with the configured provider (M-Pesa STK Push or a manual request)."""
    state = _state(request)
    principal = await require_player(request)
    body = await read_body(request, DepositBody)
    try:
        started = await start_deposit(state, principal.subject, body.amount_minor, channel="http")
    except PaymentError as exc:
        raise ApiError(exc.status, exc.code, exc.msg) from exc
    return JSONResponse(started.public(), status_code=201)


async def deposit_status(request: Request) -> Response:
    state = _state(request)
    principal = await require_player(request)
    checkout = request.path_params["checkout_id"]
    row = await state.pool.fetchrow(
        "SELECT checkout_request_id, amount_minor, currency, state, result_code, result_desc,"
        " receipt FROM mpesa_requests WHERE checkout_request_id = $1 AND user_id = $2::uuid",
        checkout, principal.subject)
    if row is None:
        raise ApiError(404, "deposit_not_found", "No such deposit.")
    return JSONResponse(dict(row))


async def pay_withdrawal(request: Request) -> Response:
    """Approve a withdrawal: B2C payout when enabled, else recorded as paid by hand."""
    state = _state(request)
    admin = await require_admin(request, "finance")
    try:
        out = await b2c.approve_withdrawal(state, request.path_params["id"],
                                           admin_id=admin.subject)
    except PaymentError as exc:
        raise ApiError(exc.status, exc.code, exc.msg) from exc
    return JSONResponse(out)


routes = [
    Route("/payments/mpesa/stk/{token}", stk_callback, methods=["POST"]),
    Route("/payments/mpesa/b2c/result/{token}", b2c_result, methods=["POST"]),
    Route("/payments/mpesa/b2c/timeout/{token}", b2c_timeout, methods=["POST"]),
    Route("/payments/mpesa/b2c/status/{token}", b2c_status, methods=["POST"]),
    Route("/payments/deposits", create_deposit, methods=["POST"]),
    Route("/payments/deposits/mpesa/{checkout_id}", deposit_status, methods=["GET"]),
    Route("/admin/payments/withdrawals/{id}/pay", pay_withdrawal, methods=["POST"]),
]


def callback_base_problem(settings: Settings) -> str | None:
    """Why Daraja could not call us back at the configured base URL, or None.

    Daraja only calls public https URLs; with anything else every callback is lost and
    deposits and payouts wait for reconciliation. Start-up still proceeds (a local
    stand-in of Daraja, as in the tests, can call any URL), but says so loudly.
    """
    base = settings.mpesa_callback_base_url or settings.resolved_public_url
    parts = urlsplit(base)
    host = (parts.hostname or "").lower()
    if parts.scheme != "https":
        return f"the M-Pesa callback base {base!r} is not https"
    if host in ("localhost", "") or host.endswith((".localhost", ".local", ".internal")):
        return f"the M-Pesa callback base {base!r} is not a public host"
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return None
    return f"the M-Pesa callback base {base!r} is an IP address, not a public host name"


async def startup(state: AppState) -> None:
    if state.settings.payments_provider == "mpesa":
        problem = callback_base_problem(state.settings)
        if problem is not None:
            log.warning("mpesa_callback_base_unreachable", problem=problem,
                        hint="set MATCHPOT_MPESA_CALLBACK_BASE_URL to a public https URL;"
                        " Daraja cannot deliver callbacks here")
        state.spawn(reconcile_forever(state), "mpesa-reconcile")


async def shutdown(state: AppState) -> None:
    client = state.drop(DARAJA)
    if client is not None:
        await client.aclose()
