"""Pool routes (HTTP) and websocket messages (docs/api.md and docs/protocol.md, "Weekly pools")."""

from __future__ import annotations

import uuid
from typing import Any, Literal

from pydantic import Field
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from competitions.pools import weeks
from server.auth.deps import require_admin, require_player
from server.features.pools import events as ev
from server.features.pools import feed, payments, settle
from server.features.pools.errors import PoolError
from server.features.pools.service import PoolsService, ident, prize_json
from server.state import AppState, Slot
from server.web.bodies import StrictBody, read_body, read_raw_body

POOLS: Slot[PoolsService] = Slot("pools", PoolsService)
OPERATOR = ("operator",)
FINANCE = ("finance",)
STRIPE_MAX_BODY = 256 * 1024


def svc_of(state: AppState) -> PoolsService:
    return state.need(POOLS)


def _svc(request: Request) -> PoolsService:
    state: AppState = request.app.state.mp
    return svc_of(state)


def _uuid(text: str, what: str) -> str:
    try:
        return str(uuid.UUID(text))
    except ValueError as exc:
        raise PoolError(f"{what}_not_found", "Not found.", 404) from exc


# ---- players ------------------------------------------------------------------------

async def week(request: Request) -> Response:
    principal = await require_player(request)
    return JSONResponse(await _svc(request).week_info(principal.subject))


class PurchaseBody(StrictBody):
    kind: Literal["pass", "buyback"]
    provider: Literal["wallet", "stripe"]
    idem_key: str = Field(min_length=1, max_length=100)


async def purchase(request: Request) -> Response:
    principal = await require_player(request)
    body = await read_body(request, PurchaseBody)
    out = await payments.start_purchase(_svc(request), principal.subject, body.kind,
                                        body.provider, body.idem_key)
    return JSONResponse(out, status_code=201)


async def list_events(request: Request) -> Response:
    await require_player(request)
    svc = _svc(request)
    return JSONResponse({"items": await svc.events(weeks.week_of(svc.now()))})


class SlipBody(StrictBody):
    stake: int
    odds: int


async def slip(request: Request) -> Response:
    await require_player(request)
    body = await read_body(request, SlipBody)
    return JSONResponse(_svc(request).slip(body.stake, body.odds))


class BetBody(StrictBody):
    selection_id: str = Field(min_length=1, max_length=64)
    stake: int
    client_key: str = Field(min_length=1, max_length=100)
    odds: int | None = None  # the odds the slip showed; refused (odds_changed) if they moved


async def place_bet(request: Request) -> Response:
    principal = await require_player(request)
    body = await read_body(request, BetBody)
    bet, replayed = await _svc(request).place_bet(principal.subject, body.selection_id,
                                                  body.stake, body.client_key, body.odds)
    return JSONResponse(bet, status_code=200 if replayed else 201)


async def my_bets(request: Request) -> Response:
    principal = await require_player(request)
    svc = _svc(request)
    week_id = request.query_params.get("week") or weeks.week_of(svc.now()).id
    return JSONResponse({"items": await svc.my_bets(principal.subject, week_id)})


async def board(request: Request) -> Response:
    await require_player(request)
    pool_id = _uuid(request.path_params["pool_id"], "pool")
    return JSONResponse(await _svc(request).boards.snapshot(pool_id))


async def standings(request: Request) -> Response:
    await require_player(request)
    svc = _svc(request)
    pool_id = uuid.UUID(_uuid(request.path_params["pool_id"], "pool"))
    rows = await svc.pool.fetch(
        "SELECT s.user_id, s.rank, s.bankroll, s.seat, u.display_name, p.amount_minor, p.state"
        " FROM pool_standings s JOIN users u ON u.id = s.user_id LEFT JOIN pool_prizes p"
        " ON p.pool_id = s.pool_id AND p.user_id = s.user_id WHERE s.pool_id = $1"
        " ORDER BY s.rank, s.seat", pool_id)
    return JSONResponse({"pool_id": str(pool_id), "standings": [
        {"user_id": str(r["user_id"]), "name": r["display_name"], "rank": r["rank"],
         "credits": r["bankroll"], "seat": r["seat"], "prize_minor": r["amount_minor"],
         "prize_state": r["state"]} for r in rows]})


async def stripe_webhook(request: Request) -> Response:
    payload = await read_raw_body(request, STRIPE_MAX_BODY)
    out = await payments.stripe_webhook(_svc(request), payload,
                                        request.headers.get("stripe-signature", ""))
    return JSONResponse(out)


# ---- admins -------------------------------------------------------------------------

async def admin_weeks(request: Request) -> Response:
    await require_admin(request)
    rows = await _svc(request).pool.fetch(
        "SELECT id, state, players, pools, encode(seed, 'hex') AS seed, start_ms, end_ms,"
        " drawn_ms, settled_ms FROM pool_weeks ORDER BY id DESC LIMIT 60")
    return JSONResponse({"items": [dict(r) for r in rows]})


def _week_param(request: Request) -> weeks.Week:
    try:
        return weeks.parse_week_id(request.path_params["week_id"])
    except ValueError as exc:
        raise PoolError("week_not_found", "No such week.", 404) from exc


async def admin_events(request: Request) -> Response:
    """A week's games with their markets for the console (the player route needs a player)."""
    await require_admin(request)
    svc = _svc(request)
    w = _week_param(request)
    return JSONResponse({"week_id": w.id, "now_ms": svc.now(), "items": await svc.events(w)})


async def admin_draw(request: Request) -> Response:
    await require_admin(request, *OPERATOR)
    svc = _svc(request)
    w = _week_param(request)
    drew = await svc.run_draw(w)
    row = await svc.pool.fetchrow("SELECT state, players, pools, encode(seed, 'hex') AS seed"
                                  " FROM pool_weeks WHERE id = $1", w.id)
    return JSONResponse({"week_id": w.id, "drew": drew, **(dict(row) if row else {})})


class FinalizeBody(StrictBody):
    force: bool = False


async def admin_finalize(request: Request) -> Response:
    await require_admin(request, *OPERATOR)
    body = await read_body(request, FinalizeBody)
    done = await _svc(request).finalize(_week_param(request), force=body.force)
    return JSONResponse({"finalized": done})


class OfferBody(StrictBody):
    market: Literal["moneyline", "spread", "total"]
    side: Literal["home", "away", "draw", "over", "under"]
    line: float | None = None
    odds: int


class EventBody(StrictBody):
    sport: str = Field(min_length=1, max_length=64)
    home_team: str = Field(min_length=1, max_length=100)
    away_team: str = Field(min_length=1, max_length=100)
    commence_ms: int
    three_way: bool = False
    ext_id: str | None = Field(default=None, max_length=100)
    selections: list[OfferBody] = Field(default_factory=list, max_length=ev.MAX_SELECTIONS)


async def _save_event(request: Request, ext_id: str | None) -> dict[str, Any]:
    body = await read_body(request, EventBody)
    return await ev.upsert_event(
        _svc(request), ext_id=ext_id or body.ext_id, sport=body.sport, home=body.home_team,
        away=body.away_team, commence_ms=body.commence_ms, three_way=body.three_way,
        offers=[ev.Offer(o.market, o.side, o.line, o.odds) for o in body.selections])


async def admin_create_event(request: Request) -> Response:
    await require_admin(request, *OPERATOR)
    return JSONResponse(await _save_event(request, None), status_code=201)


async def admin_edit_event(request: Request) -> Response:
    await require_admin(request, *OPERATOR)
    svc = _svc(request)
    current = await ev.event_detail(svc, request.path_params["id"])
    return JSONResponse(await _edit_by_id(request, svc, current))


async def _edit_by_id(request: Request, svc: PoolsService, current: dict[str, Any]
                      ) -> dict[str, Any]:
    body = await read_body(request, EventBody)
    eid = uuid.UUID(current["id"])
    if current["status"] != "scheduled":
        raise PoolError("event_closed", "That game already has a result.", 409)
    await svc.pool.execute(
        "UPDATE pool_events SET sport = $2, home_team = $3, away_team = $4, commence_ms = $5,"
        " three_way = $6 WHERE id = $1", eid, body.sport, body.home_team, body.away_team,
        body.commence_ms, body.three_way)
    for o in body.selections:
        market, side, line, price = ev.Offer(o.market, o.side, o.line, o.odds).checked(
            body.three_way)
        await svc.pool.execute(
            "INSERT INTO pool_selections (id, event_id, market, side, line_tenths, odds)"
            " VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (event_id, market, side) DO UPDATE"
            " SET line_tenths = EXCLUDED.line_tenths, odds = EXCLUDED.odds, active = true",
            ident("selection", eid, market, side), eid, market.value, side.value, line, price)
    return await ev.event_detail(svc, current["id"])


class ResultBody(StrictBody):
    status: Literal["final", "postponed", "cancelled"]
    home_score: int | None = None
    away_score: int | None = None


async def admin_result(request: Request) -> Response:
    """Record or correct a result; settlement starts at once in the background (progress:
    GET /admin/pools/settlements)."""
    await require_admin(request, *OPERATOR)
    body = await read_body(request, ResultBody)
    svc = _svc(request)
    out = await ev.set_result(svc, request.path_params["id"], body.status, body.home_score,
                              body.away_score)
    svc.state.spawn(settle.settle_event(svc, uuid.UUID(out["id"])), "pool-settle")
    return JSONResponse(out, status_code=202)


class FeedBody(StrictBody):
    odds: list[Any] | None = None
    scores: list[Any] | None = None


async def admin_feed(request: Request) -> Response:
    """Import an Odds API odds and/or scores response given in the body."""
    await require_admin(request, *OPERATOR)
    body = await read_body(request, FeedBody)
    svc = _svc(request)
    events_n = await feed.import_odds(svc, body.odds) if body.odds is not None else 0
    scores_n = await feed.import_scores(svc, body.scores) if body.scores is not None else 0
    return JSONResponse({"events": events_n, "results": scores_n})


async def admin_settle(request: Request) -> Response:
    await require_admin(request, *OPERATOR)
    return JSONResponse({"bets_graded": await settle.settle_pending(_svc(request))})


async def admin_settlements(request: Request) -> Response:
    await require_admin(request)
    return JSONResponse({"items": await settle.progress(_svc(request))})


async def admin_prizes(request: Request) -> Response:
    await require_admin(request)
    state = request.query_params.get("state", "held")
    rows = await _svc(request).pool.fetch(
        "SELECT * FROM pool_prizes WHERE state = $1 ORDER BY week_id DESC, pool_id, rank"
        " LIMIT 500", state)
    return JSONResponse({"items": [prize_json(r) for r in rows]})


async def admin_approve_prize(request: Request) -> Response:
    admin = await require_admin(request, *FINANCE)
    out = await _svc(request).approve_prize(_uuid(request.path_params["pool_id"], "prize"),
                                            _uuid(request.path_params["user_id"], "prize"),
                                            admin.subject)
    return JSONResponse(out)


class PassBody(StrictBody):
    user_id: str


async def admin_pass(request: Request) -> Response:
    """Register a player for next week without payment (support, promotions)."""
    await require_admin(request, *OPERATOR)
    body = await read_body(request, PassBody)
    svc = _svc(request)
    nxt = weeks.week_of(svc.now()).next()
    await svc.ensure_week(nxt)
    async with svc.pool.acquire() as conn:
        await svc.grant_pass(conn, nxt.id, uuid.UUID(_uuid(body.user_id, "user")), "admin", None)
    return JSONResponse({"week_id": nxt.id, "user_id": body.user_id})


routes = [
    Route("/pools/week", week, methods=["GET"]),
    Route("/pools/purchases", purchase, methods=["POST"]),
    Route("/pools/events", list_events, methods=["GET"]),
    Route("/pools/slip", slip, methods=["POST"]),
    Route("/pools/bets", place_bet, methods=["POST"]),
    Route("/pools/bets", my_bets, methods=["GET"]),
    Route("/pools/stripe/webhook", stripe_webhook, methods=["POST"]),
    Route("/pools/{pool_id}/board", board, methods=["GET"]),
    Route("/pools/{pool_id}/standings", standings, methods=["GET"]),
    Route("/admin/pools/weeks", admin_weeks, methods=["GET"]),
    Route("/admin/pools/weeks/{week_id}/draw", admin_draw, methods=["POST"]),
    Route("/admin/pools/weeks/{week_id}/events", admin_events, methods=["GET"]),
    Route("/admin/pools/weeks/{week_id}/finalize", admin_finalize, methods=["POST"]),
    Route("/admin/pools/events", admin_create_event, methods=["POST"]),
    Route("/admin/pools/events/{id}", admin_edit_event, methods=["PUT"]),
    Route("/admin/pools/events/{id}/result", admin_result, methods=["POST"]),
    Route("/admin/pools/feed", admin_feed, methods=["POST"]),
    Route("/admin/pools/settle", admin_settle, methods=["POST"]),
    Route("/admin/pools/settlements", admin_settlements, methods=["GET"]),
    Route("/admin/pools/prizes", admin_prizes, methods=["GET"]),
    Route("/admin/pools/prizes/{pool_id}/{user_id}/approve", admin_approve_prize,
          methods=["POST"]),
    Route("/admin/pools/passes", admin_pass, methods=["POST"]),
]
