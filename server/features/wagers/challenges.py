"""Open and direct challenges, and the one transaction that turns one into a match.

Posting holds nothing (the poster's credits stay free until someone accepts).
Accepting locks the challenge row, holds both stakes into `escrow:wager` as
pending transfers (ids from the challenge and the player, so a retry holds
nothing twice), marks the challenge accepted and writes the match row, all in
one transaction: of two players accepting at once, exactly one commits; the
other finds the challenge taken and nothing of theirs is held.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from ledger import (
    InsufficientFunds,
    TransferKind,
    TransferRequest,
    escrow_account,
    transfer_id,
    user_account,
)
from rooms.games.wager import NAME as WAGER_GAME
from rooms.runtime import Room
from rooms.types import HeldStake
from server.errors import ApiError
from server.features.wagers import alerts
from server.features.wagers.alerts import Alert
from server.features.wagers.profiles import eligible
from server.features.wagers.service import WagerService
from server.features.wagers.standings import utc_of
from server.wording import amount_text

MAX_RULES_CHARS = 300
MAX_MAPS = 10
MAX_LOBBY = 100


def room_id_of(challenge_id: uuid.UUID) -> str:
    return f"wager-{challenge_id.hex}"


def challenge_dict(row: Any) -> dict[str, Any]:
    return {
        "id": str(row["id"]), "creator_id": str(row["creator_id"]),
        "creator_name": row.get("creator_name"),
        "opponent_id": str(row["opponent_id"]) if row["opponent_id"] else None,
        "stake_minor": row["stake_minor"], "currency": row["currency"], "mode": row["mode"],
        "platform": row["platform"], "rules": row["rules"], "maps": list(row["maps"]),
        "status": row["status"], "room_id": row["room_id"],
        "created_at": row["created_at"].isoformat(), "expires_at": row["expires_at"].isoformat(),
    }


async def note_sighting(conn: Any, user_id: str, ip: str, device: str) -> None:
    await conn.execute(
        "INSERT INTO wager_sightings (user_id, ip, device) VALUES ($1, $2, $3)"
        " ON CONFLICT (user_id, ip, device) DO UPDATE SET seen_at = now()",
        user_id, ip[:64], device[:64])


async def pair_flags(conn: Any, a: str, b: str) -> list[str]:
    """Review flags for a pair: the same IP address or the same device seen for both."""
    flags = []
    for column, flag in (("ip", "shared_ip"), ("device", "shared_device")):
        shared = await conn.fetchval(
            f"SELECT EXISTS (SELECT 1 FROM wager_sightings x JOIN wager_sightings y"
            f" ON x.{column} = y.{column} AND x.{column} <> ''"
            f" WHERE x.user_id = $1 AND y.user_id = $2)", a, b)
        if shared:
            flags.append(flag)
    return flags


async def post_challenge(
    svc: WagerService, user_id: str, *, stake_minor: int, mode: str, platform: str,
    rules: str, maps: Sequence[str], opponent_id: str | None, ip: str, device: str,
) -> dict[str, Any]:
    s = svc.settings
    if mode not in s.modes:
        raise ApiError(400, "invalid_request", f"mode must be one of {s.modes}.")
    if platform not in s.platforms:
        raise ApiError(400, "invalid_request", f"platform must be one of {s.platforms}.")
    if stake_minor not in svc.room_settings.stake_tiers_minor:
        raise ApiError(400, "stake_not_offered", "That stake is not offered for wagers.")
    if len(rules) > MAX_RULES_CHARS or len(maps) > MAX_MAPS or any(
            not 1 <= len(m) <= 40 for m in maps):
        raise ApiError(400, "invalid_request",
                       f"Rules are at most {MAX_RULES_CHARS} characters and {MAX_MAPS} maps.")
    if opponent_id == user_id:
        raise ApiError(400, "invalid_request", "You cannot challenge yourself.")
    now_ms = svc.state.clock.now_ms()
    challenge_id = uuid.uuid4()
    async with svc.state.pool.acquire() as conn, conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", f"wager-post:{user_id}")
        await eligible(conn, s, user_id, platform, now_ms)
        if opponent_id is not None:
            await eligible(conn, s, opponent_id, platform, now_ms, who="opponent")
        open_now = await conn.fetchval(
            "SELECT count(*) FROM wager_challenges WHERE creator_id = $1 AND status = 'open'"
            " AND expires_at > $2", user_id, utc_of(now_ms))
        if open_now >= s.open_challenges_max:
            raise ApiError(409, "too_many_challenges",
                           f"You may have {s.open_challenges_max} open challenges at once.")
        available = (await svc.ledger.balance(user_account(user_id),
                                              svc.state.settings.currency)).available_minor
        if available < stake_minor:
            raise ApiError(409, "insufficient_funds",
                           "Your available balance is too low for that stake.")
        await note_sighting(conn, user_id, ip, device)
        row = await conn.fetchrow(
            "INSERT INTO wager_challenges (id, creator_id, opponent_id, stake_minor, currency,"
            " mode, platform, rules, maps, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8,"
            " $9, $10) RETURNING *,"
            " (SELECT display_name FROM users WHERE id = creator_id) AS creator_name",
            challenge_id, user_id, opponent_id, stake_minor, svc.state.settings.currency, mode,
            platform, rules, list(maps), utc_of(now_ms) + timedelta(seconds=s.challenge_ttl_s))
        sent: list[Alert] = []
        if opponent_id is not None:
            sent = [Alert(opponent_id, "wager_challenged", room_id_of(challenge_id), "challenge",
                          f"You were challenged to a {mode} wager for"
                          f" {amount_text(svc.state.settings, stake_minor)}.",
                          {"challenge_id": str(challenge_id)})]
            await alerts.enqueue(conn, sent)
    await alerts.push(svc.state, sent)
    item = challenge_dict(row)
    await svc.lobby_changed({"change": "posted", "challenge": item}, direct_to=opponent_id)
    return item


async def list_open(svc: WagerService, viewer: str, mode: str | None, platform: str | None,
                    limit: int) -> list[dict[str, Any]]:
    """The live lobby: open challenges anyone may accept, plus those addressed to `viewer`."""
    assert 1 <= limit <= MAX_LOBBY
    rows = await svc.state.pool.fetch(
        "SELECT c.*, u.display_name AS creator_name FROM wager_challenges c"
        " JOIN users u ON u.id = c.creator_id"
        " WHERE c.status = 'open' AND c.expires_at > $1"
        " AND (c.opponent_id IS NULL OR c.opponent_id = $2 OR c.creator_id = $2)"
        " AND ($3::text IS NULL OR c.mode = $3) AND ($4::text IS NULL OR c.platform = $4)"
        " ORDER BY c.created_at LIMIT $5",
        utc_of(svc.state.clock.now_ms()), viewer, mode, platform, limit)
    return [challenge_dict(r) for r in rows]


async def cancel_challenge(svc: WagerService, user_id: str, challenge_id: uuid.UUID) -> None:
    row = await svc.state.pool.fetchrow(
        "UPDATE wager_challenges SET status = 'cancelled' WHERE id = $1 AND creator_id = $2"
        " AND status = 'open' RETURNING id", challenge_id, user_id)
    if row is None:
        raise ApiError(409, "challenge_not_open",
                       "That challenge is not yours or was already accepted or cancelled.")
    await svc.lobby_changed({"change": "cancelled", "challenge_id": str(challenge_id)})


async def accept_challenge(svc: WagerService, user_id: str, challenge_id: uuid.UUID, *,
                           ip: str, device: str, open_room: bool = True
                           ) -> tuple[dict[str, Any], Room | None]:
    """Hold both stakes and start the match; exactly one of concurrent acceptors wins.

    `open_room=False` leaves the room to the caller (a test driving it on a manual clock).
    """
    s = svc.settings
    if svc.play.rooms.draining:
        raise ApiError(503, "node_draining", "This server is restarting; try again in a moment.")
    now_ms = svc.state.clock.now_ms()
    currency = svc.state.settings.currency
    room_id = room_id_of(challenge_id)
    async with svc.state.pool.acquire() as conn:
        try:
            async with conn.transaction():
                ch = await conn.fetchrow(
                    "SELECT * FROM wager_challenges WHERE id = $1 FOR UPDATE", challenge_id)
                if ch is None:
                    raise ApiError(404, "challenge_not_found", "That challenge does not exist.")
                if ch["status"] != "open" or ch["expires_at"] <= utc_of(now_ms):
                    raise ApiError(409, "challenge_taken",
                                   "That challenge was already accepted, cancelled or expired.")
                creator = str(ch["creator_id"])
                if creator == user_id:
                    raise ApiError(400, "invalid_request", "You cannot accept your own challenge.")
                if ch["opponent_id"] is not None and str(ch["opponent_id"]) != user_id:
                    raise ApiError(403, "not_your_challenge",
                                   "That challenge is addressed to another player.")
                me = await eligible(conn, s, user_id, ch["platform"], now_ms)
                them = await eligible(conn, s, creator, ch["platform"], now_ms, who="challenger")
                await note_sighting(conn, user_id, ip, device)
                stake = int(ch["stake_minor"])
                seats = tuple(
                    HeldStake(uid, transfer_id(challenge_id, "hold", uid), stake, currency)
                    for uid in (creator, user_id))
                await svc.ledger.apply(conn, [
                    TransferRequest(
                        id=h.hold_id, debit=user_account(h.user_id),
                        credit=escrow_account(WAGER_GAME), amount_minor=stake,
                        currency=currency, kind=TransferKind.PENDING, timeout_s=s.hold_ttl_s,
                        code="stake", meta={"room_id": room_id, "game": WAGER_GAME})
                    for h in seats])
                await conn.execute(
                    "UPDATE wager_challenges SET status = 'accepted', accepted_by = $2,"
                    " room_id = $3 WHERE id = $1", challenge_id, user_id, room_id)
                flags = await pair_flags(conn, creator, user_id)
                terms = {
                    "mode": ch["mode"], "platform": ch["platform"], "rules": ch["rules"],
                    "maps": list(ch["maps"]), "tags": {creator: them.tag, user_id: me.tag},
                    "stake_minor": stake, "currency": currency, "fee_bps": svc.fee_bps,
                    "challenge_id": str(challenge_id),
                }
                row = await svc.insert_match(conn, room_id, challenge_id, seats, terms, flags)
                sent = svc.found_alerts(room_id, seats, terms)
                await alerts.enqueue(conn, sent)
        except InsufficientFunds:
            assert ch is not None
            mine = (await svc.ledger.balance(user_account(user_id), currency)).available_minor
            if mine < int(ch["stake_minor"]):
                raise ApiError(409, "insufficient_funds",
                               "Your available balance is too low for that stake.") from None
            raise ApiError(409, "challenger_short",
                           "The challenger no longer has enough credits for this stake; the"
                           " challenge is still open for them to top up.") from None
    room = svc.open_room(row) if open_room else None
    await alerts.push(svc.state, sent)
    await svc.lobby_changed({"change": "accepted", "challenge_id": str(challenge_id)})
    return svc.match_dict(row), room
