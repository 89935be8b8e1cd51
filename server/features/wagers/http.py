"""HTTP routes of wagers (docs/api.md, "Wagers"): profile, challenges, matches, evidence,
ratings, leaderboard, public profiles; and the admin's dispute queue and player views."""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from typing import Any, Literal

from pydantic import Field
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from rooms.games.wager import WagerSettings
from server.auth.deps import require_admin, require_player
from server.errors import ApiError
from server.features.wagers import challenges, disputes, evidence, profiles
from server.features.wagers.rating import PROVISIONAL_MATCHES, Skill
from server.features.wagers.service import WagerService, wagers
from server.features.wagers.standings import utc_of
from server.storage import Storage
from server.web.bodies import StrictBody, read_body, read_raw_body

DEVICE_HEADER = "x-device-id"


def _svc(request: Request) -> WagerService:
    return wagers(request.app.state.mp)


def _storage(request: Request) -> Storage:
    return _svc(request).storage


def _limit(request: Request, default: int = 20, most: int = 100) -> int:
    raw = request.query_params.get("limit", str(default))
    if not raw.isdigit() or not 1 <= int(raw) <= most:
        raise ApiError(400, "invalid_request", f"limit must be 1 to {most}")
    return int(raw)


def _uuid(value: str, what: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError as exc:
        raise ApiError(404, f"{what}_not_found", f"That {what} does not exist.") from exc


def _seen(request: Request) -> tuple[str, str]:
    ip = request.client.host if request.client else ""
    return ip, request.headers.get(DEVICE_HEADER, "")[:64]


# ----- what the app offers -----

async def options(request: Request) -> JSONResponse:
    """The choices a client shows (modes, platforms, regions, stakes) and the limits it
    checks before sending (age, evidence size and count); the server checks them again."""
    svc = _svc(request)
    s, room = svc.settings, svc.room_settings
    assert isinstance(room, WagerSettings)
    return JSONResponse({
        "modes": list(s.modes), "platforms": list(s.platforms), "regions": list(s.regions),
        "min_age_years": s.min_age_years, "stakes_minor": list(room.stake_tiers_minor),
        "fee_bps": svc.fee_bps, "evidence_max_bytes": s.evidence_max_bytes,
        "evidence_per_match": s.evidence_per_match,
        "evidence_types": ["image/png", "image/jpeg", "image/webp"],
        "ready_window_ms": room.ready_window_ms, "play_window_ms": room.play_window_ms,
        "confirm_window_ms": room.confirm_window_ms, "chat_max_chars": room.chat_max_chars,
        "reliability_floor": s.reliability_floor,
    })


# ----- profile -----

class ProfileBody(StrictBody):
    region: str = Field(min_length=2, max_length=8)
    birth_date: str = Field(pattern=r"^\d{4}-\d{2}-\d{2}$")
    tags: dict[str, str] = Field(default_factory=dict, max_length=3)


async def profile_put(request: Request) -> JSONResponse:
    principal = await require_player(request)
    body = await read_body(request, ProfileBody)
    try:
        birth = date.fromisoformat(body.birth_date)
    except ValueError as exc:
        raise ApiError(400, "invalid_request", "birth_date is YYYY-MM-DD.") from exc
    svc = _svc(request)
    async with svc.state.pool.acquire() as conn, conn.transaction():
        await profiles.save_profile(conn, svc.settings, principal.subject, body.region, birth,
                                    body.tags, svc.state.clock.now_ms())
        out = await profiles.read_profile(conn, principal.subject)
    return JSONResponse(out)


async def profile_get(request: Request) -> JSONResponse:
    principal = await require_player(request)
    svc = _svc(request)
    async with svc.state.pool.acquire() as conn:
        out = await profiles.read_profile(conn, principal.subject)
    if out is None:
        raise ApiError(404, "profile_required", "You have no gaming profile yet.")
    return JSONResponse(out)


# ----- challenges -----

class ChallengeBody(StrictBody):
    stake_minor: int = Field(gt=0)
    mode: str = Field(min_length=1, max_length=12)
    platform: str = Field(min_length=1, max_length=8)
    rules: str = Field(default="", max_length=challenges.MAX_RULES_CHARS)
    maps: list[str] = Field(default_factory=list, max_length=challenges.MAX_MAPS)
    opponent_id: str | None = None
    opponent_tag: str | None = Field(default=None, max_length=40)


async def challenge_post(request: Request) -> JSONResponse:
    principal = await require_player(request)
    body = await read_body(request, ChallengeBody)
    svc = _svc(request)
    opponent = body.opponent_id
    if opponent is not None:
        opponent = str(_uuid(opponent, "player"))
    elif body.opponent_tag is not None:
        found = await svc.state.pool.fetchval(
            "SELECT user_id FROM wager_gamer_tags WHERE platform = $1 AND lower(tag) = lower($2)",
            body.platform, body.opponent_tag)
        if found is None:
            raise ApiError(404, "player_not_found", "No player has that gamer tag there.")
        opponent = str(found)
    ip, device = _seen(request)
    item = await challenges.post_challenge(
        svc, principal.subject, stake_minor=body.stake_minor, mode=body.mode,
        platform=body.platform, rules=body.rules, maps=body.maps, opponent_id=opponent,
        ip=ip, device=device)
    return JSONResponse(item, status_code=201)


async def challenges_get(request: Request) -> JSONResponse:
    principal = await require_player(request)
    q = request.query_params
    items = await challenges.list_open(_svc(request), principal.subject, q.get("mode"),
                                       q.get("platform"), _limit(request, 50, 100))
    return JSONResponse({"items": items})


async def challenge_accept(request: Request) -> JSONResponse:
    principal = await require_player(request)
    ip, device = _seen(request)
    match, _room = await challenges.accept_challenge(
        _svc(request), principal.subject, _uuid(request.path_params["id"], "challenge"),
        ip=ip, device=device)
    return JSONResponse(match, status_code=201)


async def challenge_cancel(request: Request) -> JSONResponse:
    principal = await require_player(request)
    challenge_id = _uuid(request.path_params["id"], "challenge")
    await challenges.cancel_challenge(_svc(request), principal.subject, challenge_id)
    return JSONResponse({"id": str(challenge_id), "status": "cancelled"})


# ----- matches and evidence -----

async def matches_get(request: Request) -> JSONResponse:
    principal = await require_player(request)
    items = await disputes.player_history(_svc(request), principal.subject,
                                          _limit(request))
    return JSONResponse({"items": items})


async def match_get(request: Request) -> JSONResponse:
    principal = await require_player(request)
    svc = _svc(request)
    row = await svc.state.pool.fetchrow(
        "SELECT * FROM wager_matches WHERE room_id = $1 AND players @> ARRAY[$2::uuid]",
        request.path_params["room_id"], principal.subject)
    if row is None:
        raise ApiError(404, "match_not_found", "You have no wager match with that id.")
    out = svc.match_dict(row)
    ev = await svc.state.pool.fetch(
        "SELECT id, user_id, content_type FROM wager_evidence WHERE room_id = $1"
        " ORDER BY created_at", row["room_id"])
    out["evidence"] = [{"id": str(e["id"]), "user_id": str(e["user_id"]),
                        "url": f"/wagers/evidence/{e['id']}"} for e in ev]
    return JSONResponse(out)


async def evidence_post(request: Request) -> JSONResponse:
    """The body is the picture itself; `?name=` the file's name, Content-Type its type."""
    principal = await require_player(request)
    svc = _svc(request)
    try:
        raw = await read_raw_body(request, svc.settings.evidence_max_bytes)
    except ApiError as exc:
        if exc.code != "body_too_large":
            raise
        mb = svc.settings.evidence_max_bytes // (1024 * 1024)
        raise ApiError(413, "file_too_large", f"A picture may be at most {mb} MB.") from exc
    item = await evidence.add_evidence(
        svc, _storage(request), principal.subject, request.path_params["room_id"], raw,
        filename=request.query_params.get("name"),
        declared_type=request.headers.get("content-type"))
    return JSONResponse(item, status_code=201)


async def evidence_get(request: Request) -> Response:
    header = request.headers.get("authorization", "")
    viewer: str | None
    if not header:
        raise ApiError(401, "token_missing", "Send an access token.")
    try:
        viewer = (await require_player(request)).subject
    except ApiError as exc:
        if exc.code != "forbidden":
            raise
        await require_admin(request, "viewer", "operator", "finance")
        viewer = None
    data, content_type = await evidence.read_evidence(
        _svc(request), _storage(request), _uuid(request.path_params["id"], "evidence"), viewer)
    return Response(data, media_type=content_type,
                    headers={"cache-control": "private, max-age=300",
                             "x-content-type-options": "nosniff"})


# ----- ratings, leaderboard, public profiles -----

def _standing(row: Any) -> dict[str, Any]:
    skill = Skill(row["mu"], row["sigma"], row["rated_matches"])
    return {
        "mode": row["mode"], "rating": round(skill.mu, 2), "sigma": round(skill.sigma, 3),
        "ordinal": round(skill.ordinal, 2), "provisional": skill.provisional,
        "rated_matches": row["rated_matches"], "matches": row["matches"], "wins": row["wins"],
        "losses": row["losses"], "streak": row["streak"], "staked_minor": row["staked_minor"],
        "won_minor": row["won_minor"], "disputes_lost": row["disputes_lost"],
        "last_played_at": row["last_played_at"].isoformat() if row["last_played_at"] else None,
    }


async def player_public(request: Request) -> JSONResponse:
    """A public profile: name, region, tags, reliability and per-mode standing."""
    svc = _svc(request)
    user_id = str(_uuid(request.path_params["user_id"], "player"))
    async with svc.state.pool.acquire() as conn:
        prof = await profiles.read_profile(conn, user_id)
        rows = await conn.fetch("SELECT * FROM wager_ratings WHERE user_id = $1 ORDER BY mode",
                                user_id)
    if prof is None:
        raise ApiError(404, "player_not_found", "That player has no gaming profile.")
    prof.pop("birth_date")
    prof["modes"] = [_standing(r) for r in rows]
    prof["provisional_until"] = PROVISIONAL_MATCHES
    return JSONResponse(prof)


async def leaderboard(request: Request) -> JSONResponse:
    svc = _svc(request)
    mode = request.query_params.get("mode", svc.settings.modes[0])
    if mode not in svc.settings.modes:
        raise ApiError(400, "invalid_request", f"mode must be one of {svc.settings.modes}.")
    since = utc_of(svc.state.clock.now_ms()) - timedelta(days=svc.settings.leaderboard_active_days)
    rows = await svc.state.pool.fetch(
        "SELECT r.*, u.display_name FROM wager_ratings r JOIN users u ON u.id = r.user_id"
        " WHERE r.mode = $1 AND r.rated_matches >= $2 AND r.last_played_at >= $3"
        " ORDER BY r.mu - 3 * r.sigma DESC, r.user_id LIMIT $4",
        mode, svc.settings.leaderboard_min_matches, since, _limit(request, 50, 100))
    return JSONResponse({"mode": mode, "items": [
        {"rank": i + 1, "user_id": str(r["user_id"]), "display_name": r["display_name"],
         **_standing(r)} for i, r in enumerate(rows)]})


# ----- admin -----

async def admin_disputes(request: Request) -> JSONResponse:
    await require_admin(request, "viewer", "operator")
    status = request.query_params.get("status", "open,under_review").split(",")
    if not set(status) <= {"open", "under_review", "resolved", "dismissed"}:
        raise ApiError(400, "invalid_request", "status is open, under_review, resolved, dismissed")
    return JSONResponse({"items": await disputes.queue(_svc(request), status,
                                                       _limit(request, 50, 200))})


def _dispute_id(request: Request) -> int:
    raw = request.path_params["id"]
    if not raw.isdigit() or len(raw) > 18:
        raise ApiError(404, "dispute_not_found", "That dispute does not exist.")
    return int(raw)


async def admin_dispute(request: Request) -> JSONResponse:
    await require_admin(request, "viewer", "operator")
    return JSONResponse(await disputes.case(_svc(request), _dispute_id(request)))


async def admin_dispute_claim(request: Request) -> JSONResponse:
    admin = await require_admin(request, "operator")
    return JSONResponse(await disputes.claim(_svc(request), admin.subject, _dispute_id(request)))


class NoteBody(StrictBody):
    body: str = Field(min_length=1, max_length=2000)


async def admin_dispute_note(request: Request) -> JSONResponse:
    admin = await require_admin(request, "operator")
    body = await read_body(request, NoteBody)
    await disputes.add_note(_svc(request), admin.subject, _dispute_id(request), body.body)
    return JSONResponse({"ok": True}, status_code=201)


class RuleBody(StrictBody):
    ruling: Literal["winner_a", "winner_b", "void"]
    reason: str = Field(min_length=1, max_length=500)


async def admin_dispute_rule(request: Request) -> JSONResponse:
    admin = await require_admin(request, "operator")
    body = await read_body(request, RuleBody)
    return JSONResponse(await disputes.rule(_svc(request), admin.subject, _dispute_id(request),
                                            body.ruling, body.reason))


async def admin_opponents(request: Request) -> JSONResponse:
    """A player's wager opponents with win/loss/void counts and shared-IP/device flags."""
    await require_admin(request, "viewer", "operator")
    svc = _svc(request)
    user_id = str(_uuid(request.path_params["user_id"], "player"))
    rows = await svc.state.pool.fetch(
        "SELECT o.opp AS opponent_id, count(*) AS matches,"
        " count(*) FILTER (WHERE m.winner = $1::uuid) AS wins,"
        " count(*) FILTER (WHERE m.winner = o.opp) AS losses,"
        " count(*) FILTER (WHERE m.status = 'settled' AND m.winner IS NULL) AS voided,"
        " count(*) FILTER (WHERE cardinality(m.flagged) > 0) AS flagged,"
        " max(m.created_at) AS last_at"
        " FROM wager_matches m, LATERAL (SELECT p AS opp FROM unnest(m.players) p"
        "   WHERE p <> $1::uuid) o"
        " WHERE m.players @> ARRAY[$1::uuid] GROUP BY o.opp ORDER BY count(*) DESC LIMIT 200",
        user_id)
    return JSONResponse({"user_id": user_id, "items": [
        {"opponent_id": str(r["opponent_id"]), "matches": r["matches"], "wins": r["wins"],
         "losses": r["losses"], "voided": r["voided"], "flagged": r["flagged"],
         "last_at": r["last_at"].isoformat()} for r in rows]})


async def admin_flagged(request: Request) -> JSONResponse:
    """Matches whose two players shared an IP address or a device (for review)."""
    await require_admin(request, "viewer", "operator")
    svc = _svc(request)
    rows = await svc.state.pool.fetch(
        "SELECT * FROM wager_matches WHERE cardinality(flagged) > 0"
        " ORDER BY created_at DESC LIMIT $1", _limit(request, 50, 200))
    return JSONResponse({"items": [{**svc.match_dict(r), "flagged": list(r["flagged"])}
                                   for r in rows]})
