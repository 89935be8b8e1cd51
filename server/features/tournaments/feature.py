"""Feature: tournaments — HTTP routes, websocket messages, the scheduler (docs/tournaments.md).

Players: GET /tournaments, GET /tournaments/{id}, POST /tournaments/{id}/register,
/leave, /checkin. Admins: GET /admin/tournaments, POST /admin/tournaments, and
POST /admin/tournaments/{id}/{open,start,pause,resume,end,cancel,result,disqualify}
(every one audited). The websocket messages live in ws.py.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from competitions import FORMATS
from server.auth.deps import require_admin, require_player
from server.errors import ApiError
from server.features.play.service import PLAY
from server.features.tournaments import ws as _ws  # noqa: F401  (registers the messages)
from server.features.tournaments.kinds import MatchKind, QuizDuelKind
from server.features.tournaments.service import TOURNAMENTS, TournamentService
from server.features.tournaments.settings import TournamentSettings
from server.state import AppState
from server.web.bodies import StrictBody, read_body

STATUSES = ("draft", "registration", "checkin", "running", "paused", "finished", "cancelled")


def _service(request: Request) -> TournamentService:
    state: AppState = request.app.state.mp
    service = state.find(TOURNAMENTS)
    if service is None:
        raise ApiError(404, "tournaments_off", "Tournaments are not offered here.")
    return service


async def list_http(request: Request) -> JSONResponse:
    """Tournaments players can see (not drafts), newest start first; ?status=a,b filters."""
    raw = request.query_params.get("status")
    statuses = [s for s in raw.split(",") if s] if raw else None
    if statuses and (len(statuses) > len(STATUSES) or not set(statuses) <= set(STATUSES)
                     or "draft" in statuses):
        raise ApiError(400, "invalid_request", "status is a list of tournament statuses")
    return JSONResponse({"items": await _service(request).listing(statuses, 100)})


async def detail_http(request: Request) -> JSONResponse:
    detail = await _service(request).detail(request.path_params["tid"])
    if detail["tournament"]["status"] == "draft":
        raise ApiError(404, "tournament_not_found", "There is no such tournament.")
    return JSONResponse(detail)


async def register_http(request: Request) -> JSONResponse:
    principal = await require_player(request)
    return JSONResponse(await _service(request).register(principal.subject,
                                                         request.path_params["tid"]))


async def leave_http(request: Request) -> JSONResponse:
    principal = await require_player(request)
    return JSONResponse(await _service(request).leave(principal.subject,
                                                      request.path_params["tid"]))


async def checkin_http(request: Request) -> JSONResponse:
    principal = await require_player(request)
    return JSONResponse(await _service(request).checkin(principal.subject,
                                                        request.path_params["tid"]))


class PrizeRow(StrictBody):
    max_field: int = Field(ge=1, le=100_000)
    weights_bps: list[int] = Field(min_length=1, max_length=64)


class Options(StrictBody):
    rounds: int | None = Field(default=None, ge=1, le=30)  # Swiss
    grand_final_reset: bool = True  # double elimination
    group_max: int = Field(default=8, ge=2, le=8)  # round robin
    match_checkin_ms: int | None = Field(default=None, ge=1_000, le=86_400_000)
    prize_rows: list[PrizeRow] | None = Field(default=None, max_length=16)
    prize_larger_bps: list[int] | None = Field(default=None, min_length=1, max_length=64)


class CreateBody(StrictBody):
    name: str = Field(min_length=1, max_length=80)
    format: Literal["single_elimination", "double_elimination", "swiss", "round_robin"]
    match_kind: str = "quiz"
    entry_fee_minor: int = Field(ge=0, le=10**12)
    rake_bps: int = Field(default=1_000, ge=0, le=10_000)
    guarantee_minor: int = Field(default=0, ge=0, le=10**12)
    min_players: int = Field(default=2, ge=2, le=4_096)
    max_players: int = Field(default=64, ge=2, le=4_096)
    starts_at_ms: int | None = Field(default=None, ge=0)
    checkin_ms: int = Field(default=0, ge=0, le=86_400_000)
    recurrence: str | None = Field(default=None, max_length=100)
    open: bool = False
    options: Options = Field(default_factory=Options)


def _spec(body: CreateBody) -> dict[str, Any]:
    if body.max_players < body.min_players:
        raise ApiError(400, "invalid_request", "max_players must be at least min_players")
    opts = body.options
    options: dict[str, Any] = {"grand_final_reset": opts.grand_final_reset,
                               "group_max": opts.group_max}
    if opts.rounds is not None:
        options["rounds"] = opts.rounds
    if opts.match_checkin_ms is not None:
        options["match_checkin_ms"] = opts.match_checkin_ms
    if opts.prize_rows is not None or opts.prize_larger_bps is not None:
        table: dict[str, Any] = {}
        if opts.prize_rows is not None:
            table["rows"] = [[r.max_field, r.weights_bps] for r in opts.prize_rows]
        if opts.prize_larger_bps is not None:
            table["larger"] = opts.prize_larger_bps
        options["prize_table"] = table
    spec = body.model_dump(exclude={"options"})
    spec["options"] = options
    assert spec["format"] in FORMATS
    return spec


async def admin_list_http(request: Request) -> JSONResponse:
    await require_admin(request, "viewer", "operator", "finance")
    raw = request.query_params.get("status")
    statuses = [s for s in raw.split(",") if s] if raw else list(STATUSES)
    if not set(statuses) <= set(STATUSES):
        raise ApiError(400, "invalid_request", "status is a list of tournament statuses")
    return JSONResponse({"items": await _service(request).listing(statuses, 100)})


async def admin_detail_http(request: Request) -> JSONResponse:
    await require_admin(request, "viewer", "operator", "finance")
    return JSONResponse(await _service(request).detail(request.path_params["tid"]))


async def create_http(request: Request) -> JSONResponse:
    admin = await require_admin(request, "operator")
    body = await read_body(request, CreateBody)
    row = await _service(request).create(admin.subject, _spec(body))
    return JSONResponse({"tournament": row_public(row)}, status_code=201)


def row_public(row: dict[str, Any]) -> dict[str, Any]:
    from server.features.tournaments.service import public

    return public(row)


class ReasonBody(StrictBody):
    reason: str = Field(default="", max_length=500)


class EndBody(StrictBody):
    mode: Literal["pay", "refund"]
    reason: str = Field(min_length=1, max_length=500)


class ResultBody(StrictBody):
    match_id: str = Field(min_length=1, max_length=32)
    winner: str | None = Field(default=None, max_length=64)
    reason: str = Field(min_length=1, max_length=500)


class DisqualifyBody(StrictBody):
    user_id: str = Field(min_length=1, max_length=64)
    reason: str = Field(min_length=1, max_length=500)


async def admin_action_http(request: Request) -> JSONResponse:
    """One admin action on a tournament; each is audited with the admin and the reason."""
    admin = await require_admin(request, "operator")
    service = _service(request)
    tid, action = request.path_params["tid"], request.path_params["action"]
    if action == "open":
        return JSONResponse({"tournament": row_public(await service.open(admin.subject, tid))})
    if action == "start":
        return JSONResponse({"tournament": await service.start(tid, admin.subject)})
    if action in ("pause", "resume"):
        return JSONResponse({"tournament": await service.set_paused(
            admin.subject, tid, action == "pause")})
    if action == "cancel":
        body = await read_body(request, ReasonBody)
        return JSONResponse({"tournament": await service.cancel(
            tid, body.reason or "cancelled", admin.subject)})
    if action == "end":
        end = await read_body(request, EndBody)
        return JSONResponse({"tournament": await service.end(admin.subject, tid, end.mode,
                                                             end.reason)})
    if action == "result":
        res = await read_body(request, ResultBody)
        return JSONResponse(await service.replace_result(admin.subject, tid, res.match_id,
                                                         res.winner, res.reason))
    if action == "disqualify":
        dq = await read_body(request, DisqualifyBody)
        return JSONResponse(await service.disqualify(admin.subject, tid, dq.user_id, dq.reason))
    raise ApiError(404, "not_found", "There is no such tournament action.")


async def startup(state: AppState) -> None:
    settings = TournamentSettings()
    if not settings.enabled:
        return
    play = state.find(PLAY)
    kinds: dict[str, MatchKind] = {}
    if play is not None and "quiz" in play.kinds:
        kinds["quiz"] = QuizDuelKind(play)
    service = TournamentService(state, settings, kinds)
    state.provide(TOURNAMENTS, service)
    await service.boot()


async def shutdown(state: AppState) -> None:
    service = state.find(TOURNAMENTS)
    if service is not None:
        await service.stop()


routes = [
    Route("/tournaments", list_http),
    Route("/tournaments/{tid}", detail_http),
    Route("/tournaments/{tid}/register", register_http, methods=["POST"]),
    Route("/tournaments/{tid}/leave", leave_http, methods=["POST"]),
    Route("/tournaments/{tid}/checkin", checkin_http, methods=["POST"]),
    Route("/admin/tournaments", admin_list_http),
    Route("/admin/tournaments", create_http, methods=["POST"]),
    Route("/admin/tournaments/{tid}", admin_detail_http),
    Route("/admin/tournaments/{tid}/{action}", admin_action_http, methods=["POST"]),
]
