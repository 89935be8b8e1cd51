"""One error base for the whole server, and the one place that says what an error means.

Every refusal the server reports is a `MatchpotError`: a stable snake_case
`code` (what clients switch on), a player-facing `msg` in the product's words,
and the HTTP `status`. The core packages keep their own typed errors (ledger,
rooms, matchmaking know nothing of the edge); `describe()` turns any known
error into a `Problem`, and each edge maps that in one place: the HTTP
exception handlers below, the websocket gateway's dispatch, and the WhatsApp
router's refusal text. A player never reads an account key or an amount in the ledger's units.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import asyncpg
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from ledger.errors import (
    AccountNotFound,
    CurrencyMismatch,
    DuplicateExtRef,
    HoldAlreadyResolved,
    HoldExpired,
    HoldNotFound,
    IdempotencyConflict,
    InsufficientFunds,
    InvalidTransfer,
    LedgerBusy,
    LedgerError,
)
from matchmaking.errors import MatchmakingError
from rooms.errors import RoomError


class MatchpotError(Exception):
    """A refusal: nothing changed. `code` is stable; `msg` is a sentence for the player."""

    def __init__(self, code: str, msg: str, status: int = 400) -> None:
        assert code and code.replace("_", "").isalnum() and code.islower(), code
        assert 400 <= status <= 599, status
        super().__init__(msg)
        self.code = code
        self.msg = msg
        self.status = status


class ApiError(MatchpotError):
    """Raise anywhere under a route; rendered as {"code", "msg"} with `status`."""

    def __init__(self, status: int, code: str, msg: str) -> None:
        super().__init__(code, msg, status)


@dataclass(frozen=True, slots=True)
class Problem:
    """What an edge tells the caller about an error."""

    code: str
    msg: str
    status: int


# The ledger's own messages name accounts; players read these instead.
LEDGER_WORDS: dict[type[LedgerError], tuple[int, str]] = {
    InsufficientFunds: (409, "Your available balance is too low for that."),
    HoldExpired: (409, "That stake's hold has expired; it has been returned."),
    HoldAlreadyResolved: (409, "That stake was already settled or returned."),
    HoldNotFound: (404, "That stake could not be found."),
    DuplicateExtRef: (409, "That payment receipt was already used."),
    IdempotencyConflict: (409, "That request id was already used for something else."),
    AccountNotFound: (404, "That wallet does not exist yet."),
    CurrencyMismatch: (400, "That amount is in another currency."),
    InvalidTransfer: (400, "That amount is not valid."),
    LedgerBusy: (503, "The wallet is busy; please try again in a moment."),
}

ROOM_STATUS = {"room_not_found": 404, "not_seated": 403, "room_busy": 429,
               "node_draining": 503, "node_rooms_full": 503, "node_seats_full": 503}
MATCHMAKING_STATUS = {"queue_full": 503, "not_queued": 404, "already_queued": 409,
                      "insufficient_funds": 409}


def describe(exc: BaseException) -> Problem | None:
    """The code, player-facing sentence and HTTP status of a known error; None for a bug."""
    if isinstance(exc, MatchpotError):
        return Problem(exc.code, exc.msg, exc.status)
    if isinstance(exc, LedgerError):
        status, words = next(
            (v for k, v in LEDGER_WORDS.items() if isinstance(exc, k)),
            (400, "That could not be done with your wallet."),
        )
        return Problem(exc.code, words, status)
    if isinstance(exc, RoomError):
        return Problem(exc.code, exc.message, ROOM_STATUS.get(exc.code, 409))
    if isinstance(exc, MatchmakingError):
        return Problem(exc.code, _sentence(str(exc)), MATCHMAKING_STATUS.get(exc.code, 400))
    if isinstance(exc, OUTAGE_ERRORS):
        return Problem(UNAVAILABLE, UNAVAILABLE_MSG, 503)
    return None


def _sentence(text: str) -> str:
    text = text.strip() or "That could not be done."
    return text[0].upper() + text[1:] + ("" if text.endswith((".", "!", "?")) else ".")


def error_body(code: str, msg: str) -> dict[str, str]:
    return {"code": code, "msg": msg}


async def problem_handler(request: Request, exc: Exception) -> JSONResponse:
    """The HTTP edge: every known error becomes {"code", "msg"} with its status."""
    from server import metrics

    problem = describe(exc)
    assert problem is not None, "registered only for known error types"
    metrics.ERRORS.labels(code=problem.code).inc()
    headers = None
    retry_after_s = getattr(exc, "retry_after_s", None)
    if isinstance(retry_after_s, int) and retry_after_s > 0:
        headers = {"Retry-After": str(retry_after_s)}
    if problem.code == UNAVAILABLE:
        from server.logs import log_outage  # one rate-limited line per kind, no traceback

        log_outage(exc, "http", path=request.url.path)
        headers = {"Retry-After": "2"}
    return JSONResponse(error_body(problem.code, problem.msg), status_code=problem.status,
                        headers=headers)


# Postgres or Redis down or too slow: the client should retry later, not report a bug.
OUTAGE_ERRORS: tuple[type[BaseException], ...] = (
    RedisConnectionError, RedisTimeoutError, asyncpg.PostgresConnectionError,
    asyncpg.exceptions.ConnectionDoesNotExistError, asyncpg.exceptions.QueryCanceledError,
    asyncpg.exceptions.CannotConnectNowError, TimeoutError, ConnectionError,
)
UNAVAILABLE_MSG = "A service we depend on is not answering; try again in a moment."
UNAVAILABLE = "service_unavailable"


EXCEPTION_HANDLERS: dict[Any, Callable[[Request, Exception], Awaitable[Response]]] = {
    MatchpotError: problem_handler, LedgerError: problem_handler,
    RoomError: problem_handler, MatchmakingError: problem_handler,
    **dict.fromkeys(OUTAGE_ERRORS, problem_handler),
}
