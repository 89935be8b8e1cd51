"""Disputes: the admin queue (oldest first), one claimant per case, notes, and the ruling.

A ruling is recorded first (the dispute row, with the audit row, in one
transaction that only one admin can win: the claimant, once), then delivered
to the live room as a `wager_ruling` signal; the room settles it through the
runtime, exactly once. If no room is live (its node went away), the ruling
waits in the row and is delivered when a node resumes the match.
"""

from __future__ import annotations

import json
from typing import Any

from server.admin.audit import audit
from server.errors import ApiError
from server.features.wagers.service import WagerService, _json

RULINGS = {"winner_a", "winner_b", "void"}
QUEUE_MAX = 200


def dispute_dict(row: Any) -> dict[str, Any]:
    return {
        "id": row["id"], "room_id": row["room_id"], "status": row["status"],
        "opened_by": str(row["opened_by"]) if row["opened_by"] else None,
        "opened_at": row["opened_at"].isoformat(),
        "claimed_by": str(row["claimed_by"]) if row["claimed_by"] else None,
        "ruling": row["ruling"], "reason": row["reason"],
        "ruled_at": row["ruled_at"].isoformat() if row["ruled_at"] else None,
    }


async def queue(svc: WagerService, statuses: list[str], limit: int) -> list[dict[str, Any]]:
    assert 1 <= limit <= QUEUE_MAX
    rows = await svc.state.pool.fetch(
        "SELECT * FROM wager_disputes WHERE status = ANY($1::text[])"
        " ORDER BY opened_at, id LIMIT $2", statuses, limit)
    return [dispute_dict(r) for r in rows]


async def case(svc: WagerService, dispute_id: int) -> dict[str, Any]:
    """Everything a reviewer needs: both reports, the chat, the evidence, notes, histories."""
    pool = svc.state.pool
    d = await pool.fetchrow("SELECT * FROM wager_disputes WHERE id = $1", dispute_id)
    if d is None:
        raise ApiError(404, "dispute_not_found", "That dispute does not exist.")
    m = await pool.fetchrow("SELECT * FROM wager_matches WHERE room_id = $1", d["room_id"])
    assert m is not None
    state = _json(m["state"]) or {}
    evidence = await pool.fetch(
        "SELECT id, user_id, content_type, size_bytes, width, height, created_at"
        " FROM wager_evidence WHERE room_id = $1 ORDER BY created_at", d["room_id"])
    notes = await pool.fetch(
        "SELECT admin_id, body, created_at FROM wager_dispute_notes WHERE dispute_id = $1"
        " ORDER BY id", dispute_id)
    players = [str(p) for p in m["players"]]
    histories = {uid: await player_history(svc, uid, 20) for uid in players}
    return {
        "dispute": dispute_dict(d), "match": svc.match_dict(m),
        "player_a": players[0], "player_b": players[1],
        "reports": state.get("reports", {}), "chat": state.get("chat", []),
        "opening": state.get("dispute"),  # who opened it and why ({by, reason, at_ms})
        "flags": list(m["flagged"]),
        "evidence": [{"id": str(e["id"]), "user_id": str(e["user_id"]),
                      "content_type": e["content_type"], "size_bytes": e["size_bytes"],
                      "width": e["width"], "height": e["height"],
                      "url": f"/wagers/evidence/{e['id']}",
                      "created_at": e["created_at"].isoformat()} for e in evidence],
        "notes": [{"admin_id": str(n["admin_id"]), "body": n["body"],
                   "created_at": n["created_at"].isoformat()} for n in notes],
        "histories": histories,
    }


async def player_history(svc: WagerService, user_id: str, limit: int) -> list[dict[str, Any]]:
    rows = await svc.state.pool.fetch(
        "SELECT * FROM wager_matches WHERE players @> ARRAY[$1::uuid]"
        " ORDER BY created_at DESC LIMIT $2", user_id, limit)
    return [svc.match_dict(r) for r in rows]


async def claim(svc: WagerService, admin_id: str, dispute_id: int) -> dict[str, Any]:
    async with svc.state.pool.acquire() as conn, conn.transaction():
        row = await conn.fetchrow(
            "UPDATE wager_disputes SET status = 'under_review', claimed_by = $2,"
            " claimed_at = now() WHERE id = $1 AND status = 'open' RETURNING *",
            dispute_id, admin_id)
        if row is None:
            row = await conn.fetchrow("SELECT * FROM wager_disputes WHERE id = $1", dispute_id)
            if row is None:
                raise ApiError(404, "dispute_not_found", "That dispute does not exist.")
            if str(row["claimed_by"]) != admin_id or row["status"] != "under_review":
                raise ApiError(409, "dispute_claimed",
                               "Another admin has this case, or it is already resolved.")
            return dispute_dict(row)
        await audit(conn, admin_id, "wager.dispute.claim", f"wager:{row['room_id']}",
                    {"dispute_id": dispute_id})
    return dispute_dict(row)


async def add_note(svc: WagerService, admin_id: str, dispute_id: int, body: str) -> None:
    async with svc.state.pool.acquire() as conn, conn.transaction():
        row = await conn.fetchrow("SELECT claimed_by, status FROM wager_disputes WHERE id = $1",
                                  dispute_id)
        if row is None:
            raise ApiError(404, "dispute_not_found", "That dispute does not exist.")
        await conn.execute(
            "INSERT INTO wager_dispute_notes (dispute_id, admin_id, body) VALUES ($1, $2, $3)",
            dispute_id, admin_id, body)


async def rule(svc: WagerService, admin_id: str, dispute_id: int, ruling: str,
               reason: str) -> dict[str, Any]:
    """Record the claimant's ruling (once), audited; then deliver it to the room."""
    assert ruling in RULINGS
    async with svc.state.pool.acquire() as conn, conn.transaction():
        row = await conn.fetchrow("SELECT * FROM wager_disputes WHERE id = $1 FOR UPDATE",
                                  dispute_id)
        if row is None:
            raise ApiError(404, "dispute_not_found", "That dispute does not exist.")
        if row["ruling"] is not None:
            raise ApiError(409, "dispute_ruled", "This dispute was already ruled.")
        if row["status"] != "under_review" or str(row["claimed_by"]) != admin_id:
            raise ApiError(409, "dispute_not_claimed",
                           "Claim the case before ruling; another admin may have it.")
        row = await conn.fetchrow(
            "UPDATE wager_disputes SET status = $2, ruling = $3, reason = $4, ruled_by = $5,"
            " ruled_at = now() WHERE id = $1 RETURNING *",
            dispute_id, "dismissed" if ruling == "void" else "resolved", ruling, reason,
            admin_id)
        assert row is not None
        await audit(conn, admin_id, "wager.dispute.rule", f"wager:{row['room_id']}",
                    {"dispute_id": dispute_id, "ruling": ruling, "reason": reason})
    answer = await svc.deliver_ruling(row["room_id"])
    out = dispute_dict(row)
    out["delivered"] = answer is not None
    out["answer"] = json.loads(json.dumps(answer, default=str)) if answer else None
    return out
