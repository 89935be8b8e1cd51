"""The audit log: one row per admin action, written in the action's own transaction."""

from __future__ import annotations

import uuid
from typing import Any

from server.db import DbConn

MAX_ACTION_CHARS = 64



async def audit(
    conn: DbConn, admin_id: str | None, action: str, target: str,
    detail: dict[str, Any],
) -> None:
    """Record `action` on `target`. Call it on the connection whose transaction does the
    action, so the row exists exactly when the action happened. `admin_id` None is the system.
    """
    assert action and len(action) <= MAX_ACTION_CHARS, action
    assert conn.is_in_transaction(), "audit inside the action's transaction"
    await conn.execute(
        "INSERT INTO audit_log (admin_id, action, target, detail) VALUES ($1, $2, $3, $4)",
        uuid.UUID(admin_id) if admin_id else None, action, target, detail,
    )
