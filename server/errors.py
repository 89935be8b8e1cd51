"""Errors at the edge: a stable snake_case code, an HTTP status and a human sentence."""

from __future__ import annotations

import asyncpg
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
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


# Postgres or Redis down or too slow: the client should retry later, not report a bug.
OUTAGE_ERRORS: tuple[type[BaseException], ...] = (
    RedisConnectionError, RedisTimeoutError, asyncpg.PostgresConnectionError,
    asyncpg.exceptions.ConnectionDoesNotExistError, asyncpg.exceptions.QueryCanceledError,
    asyncpg.exceptions.CannotConnectNowError, TimeoutError, ConnectionError,
)
UNAVAILABLE_MSG = "A service we depend on is not answering; try again in a moment."


async def outage_error_handler(request: Request, exc: Exception) -> JSONResponse:
    """503 `service_unavailable`, and one rate-limited log line per kind instead of a trace."""
    from server import metrics
    from server.logs import log_outage

    log_outage(exc, "http", path=request.url.path)
    metrics.ERRORS.labels(code="service_unavailable").inc()
    return JSONResponse(error_body("service_unavailable", UNAVAILABLE_MSG), status_code=503,
                        headers={"Retry-After": "2"})


EXCEPTION_HANDLERS = {
    ApiError: api_error_handler, LedgerError: ledger_error_handler,
    **dict.fromkeys(OUTAGE_ERRORS, outage_error_handler),
}
