"""Errors at the edge: a stable snake_case code, an HTTP status and a human sentence."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse

from ledger.errors import (
    AccountNotFound,
    DuplicateExtRef,
    HoldAlreadyResolved,
    HoldExpired,
    HoldNotFound,
    IdempotencyConflict,
    InsufficientFunds,
    LedgerBusy,
    LedgerError,
)


class ApiError(Exception):
    """Raise anywhere under a route; rendered as {"code", "msg"} with `status`."""

    def __init__(self, status: int, code: str, msg: str) -> None:
        super().__init__(msg)
        self.status = status
        self.code = code
        self.msg = msg


LEDGER_STATUS: dict[type[LedgerError], int] = {
    InsufficientFunds: 409,
    IdempotencyConflict: 409,
    HoldAlreadyResolved: 409,
    HoldNotFound: 404,
    AccountNotFound: 404,
    HoldExpired: 409,
    DuplicateExtRef: 409,
    LedgerBusy: 503,
}


def error_body(code: str, msg: str) -> dict[str, str]:
    return {"code": code, "msg": msg}


async def api_error_handler(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    from server import metrics

    metrics.ERRORS.labels(code=exc.code).inc()
    return JSONResponse(error_body(exc.code, exc.msg), status_code=exc.status)


async def ledger_error_handler(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, LedgerError)
    from server import metrics

    metrics.ERRORS.labels(code=exc.code).inc()
    status = next((v for k, v in LEDGER_STATUS.items() if isinstance(exc, k)), 400)
    return JSONResponse(error_body(exc.code, exc.message), status_code=status)


EXCEPTION_HANDLERS = {ApiError: api_error_handler, LedgerError: ledger_error_handler}
