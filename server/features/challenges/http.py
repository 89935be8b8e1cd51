"""HTTP routes of staked self-challenges: the player's API (the PWA) and the admin review.

Player routes take a player token, admin routes an admin token (viewer to read,
operator to decide). Every refusal is a ChallengeError rendered as {"code", "msg"}.
docs/api.md, "Staked self-challenges", lists each route.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from server.auth.deps import require_admin, require_player
from server.errors import ApiError
from server.features.challenges.service import (
    MAX_LIST,
    ChallengeService,
    public,
    public_proof,
    service,
)
from server.web.bodies import StrictBody, read_body, read_raw_body

MAX_IDEM_CHARS = 128


def _svc(request: Request) -> ChallengeService:
    svc = service(request.app.state.mp)
    if not svc.settings.enabled:
        raise ApiError(404, "challenges_disabled", "Challenges are not available.")
    return svc


async def _phone(svc: ChallengeService, user_id: str) -> str:
    phone = await svc.state.pool.fetchval(
        "SELECT phone_e164 FROM users WHERE id = $1::uuid", user_id)
    return str(phone or "")


class CreateBody(StrictBody):
    idem_key: str = Field(min_length=1, max_length=MAX_IDEM_CHARS)
    text: str | None = Field(default=None, max_length=300)  # "gym tomorrow 7am stake 200"
    goal: str | None = Field(default=None, max_length=120)
    stake_minor: int | None = None
    deadline: str | None = Field(default=None, max_length=100)  # "tomorrow 7am", "by Friday"
    time_zone: str | None = Field(default=None, max_length=64)  # IANA; default: from the phone


async def create(request: Request) -> Response:
    """A draft from free text or the form's fields; 201, or 200 for a replayed idem_key."""
    svc = _svc(request)
    player = await require_player(request)
    body = await read_body(request, CreateBody)
    phone = await _phone(svc, player.subject)
    ref = f"http:{body.idem_key}"
    replay = await svc.state.pool.fetchval(
        "SELECT 1 FROM challenges WHERE user_id = $1::uuid AND source_ref = $2",
        player.subject, ref)
    if body.text is not None:
        row = await svc.draft_from_text(player.subject, phone, body.text, source="http",
                                        source_ref=ref, time_zone=body.time_zone)
    else:
        if body.goal is None or body.stake_minor is None or body.deadline is None:
            raise ApiError(400, "invalid_request", "Send either text, or goal, stake_minor"
                           " and deadline.")
        row = await svc.draft_from_form(
            player.subject, phone, goal=body.goal, stake_minor=body.stake_minor,
            deadline_text=body.deadline, source_ref=ref, time_zone=body.time_zone)
    return JSONResponse(public(row, svc.settings), status_code=200 if replay else 201)


class PickBody(StrictBody):
    option: int = Field(ge=0, le=10)


async def pick(request: Request) -> Response:
    svc = _svc(request)
    player = await require_player(request)
    body = await read_body(request, PickBody)
    row = await svc.pick_option(player.subject, request.path_params["id"], body.option)
    return JSONResponse(public(row, svc.settings))


async def confirm(request: Request) -> Response:
    svc = _svc(request)
    player = await require_player(request)
    row = await svc.confirm(player.subject, request.path_params["id"])
    return JSONResponse(public(row, svc.settings))


async def cancel(request: Request) -> Response:
    svc = _svc(request)
    player = await require_player(request)
    row = await svc.cancel(player.subject, request.path_params["id"])
    return JSONResponse(public(row, svc.settings))


class RemindBody(StrictBody):
    when: str = Field(min_length=1, max_length=100)  # "in 1 hour", "30 minutes before"


async def remind(request: Request) -> Response:
    svc = _svc(request)
    player = await require_player(request)
    body = await read_body(request, RemindBody)
    due = await svc.remind(player.subject, request.path_params["id"], body.when)
    return JSONResponse({"due_at": due.isoformat()}, status_code=201)


async def upload_proof(request: Request) -> Response:
    """The raw picture or video as the body, its type as Content-Type; `?idem_key=`."""
    svc = _svc(request)
    player = await require_player(request)
    idem = request.query_params.get("idem_key", "")
    if not 1 <= len(idem) <= MAX_IDEM_CHARS:
        raise ApiError(400, "invalid_request", "Add ?idem_key=<1-128 characters>.")
    received_at = svc.now()  # judged by arrival: taken before the body is read
    limit = max(svc.settings.max_image_bytes, svc.settings.max_video_bytes)
    raw = await read_raw_body(request, limit)
    proof = await svc.submit_proof(
        player.subject, request.path_params["id"], raw, request.headers.get("content-type"),
        source_ref=f"http:{player.subject}:{idem}", received_at=received_at)
    return JSONResponse(public_proof(proof), status_code=201)


async def list_mine(request: Request) -> Response:
    svc = _svc(request)
    player = await require_player(request)
    limit = _limit(request)
    rows = await svc.history(player.subject, limit)
    return JSONResponse({
        "challenges": [public(r, svc.settings) for r in rows],
        "stats": await svc.stats(player.subject),
    })


async def stats(request: Request) -> Response:
    svc = _svc(request)
    player = await require_player(request)
    return JSONResponse(await svc.stats(player.subject))


async def detail(request: Request) -> Response:
    svc = _svc(request)
    player = await require_player(request)
    row = await svc.get(player.subject, request.path_params["id"])
    return JSONResponse({
        "challenge": public(row, svc.settings),
        "proofs": [public_proof(p) for p in await svc.proofs_of(row["id"])],
        "reminders": [{"due_at": r["due_at"].isoformat(), "kind": r["kind"],
                       "state": r["state"]} for r in await svc.reminders_of(row["id"])],
    })


# ---- admin -------------------------------------------------------------------------------


def _limit(request: Request) -> int:
    raw = request.query_params.get("limit", "50")
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_LIST:
        raise ApiError(400, "invalid_request", f"limit must be 1..{MAX_LIST}.")
    return int(raw)


async def admin_challenges(request: Request) -> Response:
    """Challenges by state (default open), nearest deadline first."""
    svc = _svc(request)
    await require_admin(request)
    state = request.query_params.get("state", "open")
    if state not in ("draft", "open", "succeeded", "failed", "cancelled", "expired"):
        raise ApiError(400, "invalid_request", "Unknown state.")
    rows = await svc.state.pool.fetch(
        "SELECT c.*, u.phone_e164 FROM challenges c JOIN users u ON u.id = c.user_id"
        " WHERE c.state = $1 ORDER BY c.deadline_at NULLS LAST, c.created_at LIMIT $2",
        state, _limit(request))
    return JSONResponse({"challenges": [
        {**public(r, svc.settings), "user_id": str(r["user_id"]), "phone": r["phone_e164"]}
        for r in rows]})


async def admin_outcomes(request: Request) -> Response:
    """Resolved challenges, newest first."""
    svc = _svc(request)
    await require_admin(request)
    rows = await svc.state.pool.fetch(
        "SELECT c.*, u.phone_e164 FROM challenges c JOIN users u ON u.id = c.user_id"
        " WHERE c.resolved_at IS NOT NULL AND c.confirmed_at IS NOT NULL"
        " ORDER BY c.resolved_at DESC LIMIT $1", _limit(request))
    return JSONResponse({"outcomes": [
        {**public(r, svc.settings), "user_id": str(r["user_id"]), "phone": r["phone_e164"]}
        for r in rows]})


async def admin_proofs(request: Request) -> Response:
    """The review queue: proofs by state (default pending), oldest first."""
    svc = _svc(request)
    await require_admin(request)
    state = request.query_params.get("state", "pending")
    if state not in ("pending", "approved", "rejected"):
        raise ApiError(400, "invalid_request", "Unknown state.")
    rows = await svc.state.pool.fetch(
        "SELECT p.*, c.goal, c.deadline_at, c.created_at AS challenge_created_at,"
        " c.stake_minor, c.state AS challenge_state, p.verifier_note"
        " FROM challenge_proofs p JOIN challenges c ON c.id = p.challenge_id"
        " WHERE p.state = $1 ORDER BY p.received_at LIMIT $2", state, _limit(request))
    return JSONResponse({"proofs": [_admin_proof(r) for r in rows]})


def _admin_proof(r: Any) -> dict[str, Any]:
    return {
        **public_proof(r), "goal": r["goal"], "deadline_at": r["deadline_at"].isoformat(),
        "challenge_created_at": r["challenge_created_at"].isoformat(),
        "stake_minor": r["stake_minor"], "challenge_state": r["challenge_state"],
        "verifier_note": r["verifier_note"], "decided_by": r["decided_by"],
        "taken_at": r["taken_at"].isoformat() if r["taken_at"] else None,
        "file_url": f"/admin/challenges/proofs/{r['id']}/file" if r["storage_key"] else None,
    }


async def admin_proof_file(request: Request) -> Response:
    svc = _svc(request)
    await require_admin(request)
    key = await svc.state.pool.fetchrow(
        "SELECT storage_key, content_type FROM challenge_proofs WHERE id::text = $1",
        request.path_params["id"])
    data = await svc.storage.get(key["storage_key"]) if key and key["storage_key"] else None
    if key is None or data is None:
        raise ApiError(404, "proof_not_found", "That proof file could not be found.")
    return Response(data, media_type=key["content_type"],
                    headers={"cache-control": "private, no-store"})


class DecisionBody(StrictBody):
    reason: str | None = Field(default=None, max_length=300)


async def admin_decide(request: Request) -> Response:
    """Approve or reject a pending proof (operator); audited with the decision."""
    svc = _svc(request)
    admin = await require_admin(request, "operator")
    body = await read_body(request, DecisionBody)
    decision = request.path_params["decision"]
    if decision not in ("approve", "reject"):
        raise ApiError(404, "not_found", "Approve or reject.")
    approve = decision == "approve"
    if not approve and not (body.reason and body.reason.strip()):
        raise ApiError(400, "reason_required", "Say why the proof is rejected.")
    proof = await svc.review(request.path_params["id"], approve=approve,
                             actor=f"admin:{admin.subject}", reason=body.reason,
                             admin_id=admin.subject)
    return JSONResponse(public_proof(proof))


routes = [
    Route("/challenges", create, methods=["POST"]),
    Route("/challenges", list_mine, methods=["GET"]),
    Route("/challenges/stats", stats, methods=["GET"]),
    Route("/challenges/{id}", detail, methods=["GET"]),
    Route("/challenges/{id}/pick", pick, methods=["POST"]),
    Route("/challenges/{id}/confirm", confirm, methods=["POST"]),
    Route("/challenges/{id}/cancel", cancel, methods=["POST"]),
    Route("/challenges/{id}/reminders", remind, methods=["POST"]),
    Route("/challenges/{id}/proofs", upload_proof, methods=["POST"]),
    Route("/admin/challenges", admin_challenges, methods=["GET"]),
    Route("/admin/challenges/outcomes", admin_outcomes, methods=["GET"]),
    Route("/admin/challenges/proofs", admin_proofs, methods=["GET"]),
    Route("/admin/challenges/proofs/{id}/file", admin_proof_file, methods=["GET"]),
    Route("/admin/challenges/proofs/{id}/{decision:str}", admin_decide, methods=["POST"]),
]
