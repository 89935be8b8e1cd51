"""With the WhatsApp channel off, stale alerts are closed instead of piling up."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from ledger import OutboxMessage, outbox
from server.channels.outbox_worker import close_undeliverable_once

pytestmark = pytest.mark.usefixtures("ledger")


async def test_alerts_older_than_an_hour_are_closed_and_fresh_ones_wait(server: Any) -> None:
    state = server.state
    assert not state.settings.whatsapp_enabled
    old, fresh = uuid.uuid4(), uuid.uuid4()
    async with state.pool.acquire() as conn, conn.transaction():
        await outbox.enqueue(conn, [
            OutboxMessage(id=old, channel="whatsapp", recipient=str(uuid.uuid4()),
                          kind="match_found", payload={}),
            OutboxMessage(id=fresh, channel="whatsapp", recipient=str(uuid.uuid4()),
                          kind="match_found", payload={}),
        ])
        await conn.execute("UPDATE outbox SET created_at = now() - interval '2 hours'"
                           " WHERE id = $1", old)
    await close_undeliverable_once(state)
    rows = {r["id"]: (r["state"], r["last_error"]) for r in await state.pool.fetch(
        "SELECT id, state, last_error FROM outbox WHERE id = ANY($1::uuid[])", [old, fresh])}
    assert rows[old] == ("failed", "channel_disabled")
    assert rows[fresh] == ("pending", None)
    await state.pool.execute("DELETE FROM outbox WHERE id = $1", fresh)
