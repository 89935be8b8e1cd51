"""Evidence for a match: checked pictures, re-encoded without metadata, kept in `Storage`.

At most `evidence_per_match` per match and `evidence_max_bytes` each. The type
is judged from the content (server/images.py); a refusal stores nothing. The
count is checked under a per-match lock, so ten parallel uploads cannot make
eleven. The file is written before its row; if the row fails the file goes.
"""

from __future__ import annotations

import uuid
from typing import Any

from server.errors import ApiError
from server.features.wagers.service import WagerService
from server.images import ImageRejected, check_image
from server.storage import Storage

AREA = "wager"


async def add_evidence(svc: WagerService, storage: Storage, user_id: str, room_id: str,
                       raw: bytes, *, filename: str | None, declared_type: str | None
                       ) -> dict[str, Any]:
    s = svc.settings
    match = await svc.state.pool.fetchrow(
        "SELECT players, status FROM wager_matches WHERE room_id = $1", room_id)
    if match is None or user_id not in [str(p) for p in match["players"]]:
        raise ApiError(404, "match_not_found", "You have no wager match with that id.")
    if match["status"] == "settled":
        raise ApiError(409, "match_settled", "That match is settled; evidence is closed.")
    try:
        image = check_image(raw, filename=filename, declared_type=declared_type,
                            max_bytes=s.evidence_max_bytes)
    except ImageRejected as exc:
        raise ApiError(413 if exc.code == "file_too_large" else 400, exc.code, exc.msg) from exc
    evidence_id = uuid.uuid4()
    key = f"{AREA}/{evidence_id.hex}.{image.extension}"
    async with svc.state.pool.acquire() as conn, conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", f"evidence:{room_id}")
        count = await conn.fetchval("SELECT count(*) FROM wager_evidence WHERE room_id = $1",
                                    room_id)
        if count >= s.evidence_per_match:
            raise ApiError(409, "evidence_limit",
                           f"A match takes at most {s.evidence_per_match} pictures.")
        await storage.put(key, image.data, image.content_type)
        try:
            await conn.execute(
                "INSERT INTO wager_evidence (id, room_id, user_id, storage_key, content_type,"
                " size_bytes, width, height) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                evidence_id, room_id, user_id, key, image.content_type, len(image.data),
                image.width, image.height)
        except BaseException:
            await storage.delete(key)
            raise
    return {"id": str(evidence_id), "room_id": room_id, "content_type": image.content_type,
            "size_bytes": len(image.data), "width": image.width, "height": image.height,
            "url": f"/wagers/evidence/{evidence_id}"}


async def read_evidence(svc: WagerService, storage: Storage, evidence_id: uuid.UUID,
                        viewer: str | None) -> tuple[bytes, str]:
    """The picture for one of the match's players, or for an admin (`viewer` None)."""
    row = await svc.state.pool.fetchrow(
        "SELECT e.storage_key, e.content_type, m.players FROM wager_evidence e"
        " JOIN wager_matches m USING (room_id) WHERE e.id = $1", evidence_id)
    if row is None or (viewer is not None and viewer not in [str(p) for p in row["players"]]):
        raise ApiError(404, "evidence_not_found", "That picture does not exist.")
    data = await storage.get(row["storage_key"])
    if data is None:
        raise ApiError(404, "evidence_not_found", "That picture does not exist.")
    return data, row["content_type"]
