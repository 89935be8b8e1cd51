"""Quick-game routes (HTTP) and websocket handlers: bets, fairness, football admin."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import Field
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from server import metrics
from server.auth.deps import require_admin, require_player
from server.errors import ApiError
from server.features.quickplay import football, service
from server.gateway.registry import Connection, field, register
from server.state import AppState
from server.web.bodies import StrictBody, read_body

ADMIN_ROLES = ("operator",)


def _state(request: Request) -> AppState:
    state: AppState = request.app.state.mp
    return state



class BetBody(StrictBody):
    stake_minor: int
    choice: dict[str, Any] = Field(default_factory=dict)
    idem_key: str = Field(min_length=1, max_length=service.IDEM_KEY_MAX_CHARS)


async def place_bet(request: Request) -> Response:
    """Play a quick game; replaying the same idem_key returns the first result (200)."""
    state = _state(request)
    principal = await require_player(request)
    body = await read_body(request, BetBody)
    game = request.path_params["game"]
    result = await service.place_bet(state, principal.subject, game, body.stake_minor,
                                     body.choice, channel="http", idem_key=body.idem_key)
    if not result.replayed:
        metrics.QUICK_BETS.labels(game, "http").inc()
    return JSONResponse(result.public(), status_code=200 if result.replayed else 201)


async def fair_seed(request: Request) -> Response:
    state = _state(request)
    principal = await require_player(request)
    return JSONResponse(await service.fair_info(state, principal.subject))


class RotateBody(StrictBody):
    client_seed: str | None = None


async def rotate(request: Request) -> Response:
    """Reveal the current server seed and commit to a new one."""
    state = _state(request)
    principal = await require_player(request)
    body = await read_body(request, RotateBody)
    out = await service.rotate_seed(state, principal.subject, body.client_seed)
    return JSONResponse(out)


async def verify(request: Request) -> Response:
    state = _state(request)
    principal = await require_player(request)
    out = await service.verify_bet(state, request.path_params["id"], user_id=principal.subject)
    if out.get("code") == "bet_not_found":
        raise ApiError(404, "bet_not_found", out["text"])
    return JSONResponse(out)


async def list_football(request: Request) -> Response:
    state = _state(request)
    await require_player(request)
    return JSONResponse({"items": await football.open_questions(state)})


class QuestionBody(StrictBody):
    question: str = Field(min_length=3, max_length=200)
    odds_yes: str = Field(min_length=2, max_length=16)
    odds_no: str = Field(min_length=2, max_length=16)
    closes_at: datetime = Field(strict=False)  # ISO 8601 text with a timezone


async def create_question(request: Request) -> Response:
    state = _state(request)
    admin = await require_admin(request, *ADMIN_ROLES)
    body = await read_body(request, QuestionBody)
    out = await football.create_question(state, admin.subject, body.question, body.odds_yes,
                                         body.odds_no, body.closes_at)
    return JSONResponse(out, status_code=201)


class SettleBody(StrictBody):
    result: str


async def settle_question(request: Request) -> Response:
    state = _state(request)
    await require_admin(request, *ADMIN_ROLES)
    body = await read_body(request, SettleBody)
    out = await football.settle_question(state, request.path_params["id"], body.result)
    return JSONResponse(out)


async def void_question(request: Request) -> Response:
    state = _state(request)
    await require_admin(request, *ADMIN_ROLES)
    out = await football.void_question(state, request.path_params["id"])
    return JSONResponse(out)


routes = [
    Route("/games/fair", fair_seed, methods=["GET"]),
    Route("/games/fair/rotate", rotate, methods=["POST"]),
    Route("/games/football", list_football, methods=["GET"]),
    Route("/games/bets/{id}/verify", verify, methods=["GET"]),
    Route("/games/{game}/bets", place_bet, methods=["POST"]),
    Route("/admin/football", create_question, methods=["POST"]),
    Route("/admin/football/{id}/settle", settle_question, methods=["POST"]),
    Route("/admin/football/{id}/void", void_question, methods=["POST"]),
]


def _register_ws_handlers() -> None:
    """Add quick_bet / fair_seed / fair_rotate / quick_verify to the gateway's messages."""

    async def quick_bet(conn: Connection, frame: dict[str, Any]) -> dict[str, Any] | None:
        game = field(frame, "game", str)
        stake = field(frame, "stake_minor", int)
        choice = field(frame, "choice", dict, required=False, default={})
        idem_key = field(frame, "idem_key", str)
        result = await service.place_bet(conn.state, conn.user_id, game, stake, choice,
                                         channel="ws", idem_key=idem_key)
        if not result.replayed:
            metrics.QUICK_BETS.labels(game, "ws").inc()
        return {"t": "quick_result", **result.public()}

    async def fair_seed_ws(conn: Connection, frame: dict[str, Any]) -> dict[str, Any] | None:
        return {"t": "fair_seed", **await service.fair_info(conn.state, conn.user_id)}

    async def fair_rotate_ws(conn: Connection, frame: dict[str, Any]) -> dict[str, Any] | None:
        client_seed = field(frame, "client_seed", str, required=False)
        out = await service.rotate_seed(conn.state, conn.user_id, client_seed)
        return {"t": "fair_rotated", **out}

    async def quick_verify(conn: Connection, frame: dict[str, Any]) -> dict[str, Any] | None:
        bet_id = field(frame, "bet_id", str)
        out = await service.verify_bet(conn.state, bet_id, user_id=conn.user_id)
        return {"t": "quick_verified", **out}

    register("quick_bet", quick_bet)
    register("fair_seed", fair_seed_ws)
    register("fair_rotate", fair_rotate_ws)
    register("quick_verify", quick_verify)


_register_ws_handlers()
