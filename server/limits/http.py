"""Responsible-play settings over HTTP (player), a feature module — docs/limits.md.

GET /me/limits: the limits in force, a raise waiting out its cooling-off, the
amounts used in the last 24 hours, self-exclusion and suspension.
PUT /me/limits: {"daily_deposit_max_minor": int|null, "daily_stake_max_minor": int|null}
(either or both; null removes the limit, which counts as a raise).
POST /me/self-exclusion: {"days": one of MATCHPOT_LIMITS_EXCLUSION_DAYS}.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from server.auth.deps import require_player
from server.limits import service
from server.limits.service import LIMITS_SETTINGS, LimitsSettings
from server.state import AppState
from server.web.bodies import StrictBody, read_body


class LimitsBody(StrictBody):
    daily_deposit_max_minor: int | None = None
    daily_stake_max_minor: int | None = None


class ExclusionBody(StrictBody):
    days: int


async def _view(state: AppState, user_id: str) -> dict[str, Any]:
    async with state.pool.acquire() as conn:
        st = await service.standing(conn, state, user_id)
        deposits, stakes = await service.usage(conn, state, user_id)
    cfg = service.settings_of(state)
    return {**st.public(), "used_deposit_minor": deposits, "used_stake_minor": stakes,
            "cooling_off_s": cfg.cooling_off_s, "window_s": cfg.window_s,
            "exclusion_days": list(cfg.exclusion_days)}


async def get_limits(request: Request) -> Response:
    state: AppState = request.app.state.mp
    principal = await require_player(request)
    return JSONResponse(await _view(state, principal.subject))


async def put_limits(request: Request) -> Response:
    state: AppState = request.app.state.mp
    principal = await require_player(request)
    body = await read_body(request, LimitsBody)
    given: dict[str, Any] = {}
    if "daily_deposit_max_minor" in body.model_fields_set:
        given["deposit"] = body.daily_deposit_max_minor
    if "daily_stake_max_minor" in body.model_fields_set:
        given["stake"] = body.daily_stake_max_minor
    await service.change_limits(state, principal.subject, **given)
    return JSONResponse(await _view(state, principal.subject))


async def post_exclusion(request: Request) -> Response:
    state: AppState = request.app.state.mp
    principal = await require_player(request)
    body = await read_body(request, ExclusionBody)
    await service.self_exclude(state, principal.subject, body.days)
    return JSONResponse(await _view(state, principal.subject))


async def startup(state: AppState) -> None:
    state.provide(LIMITS_SETTINGS, LimitsSettings())


routes = [
    Route("/me/limits", get_limits, methods=["GET"]),
    Route("/me/limits", put_limits, methods=["PUT"]),
    Route("/me/self-exclusion", post_exclusion, methods=["POST"]),
]
