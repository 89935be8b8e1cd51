"""Inbound messages: persisted in the webhook request, processed by a worker on any node.

The webhook inserts each message into `wa_inbound` (wamid primary key, ON
CONFLICT DO NOTHING) before it answers 200, so a redelivery takes effect once
and nothing is lost if the process dies right after answering. Workers on every
node claim unprocessed rows with FOR UPDATE SKIP LOCKED and a lease; a row whose
worker died is claimed again when the lease runs out, and a row that keeps
failing is given up after MAX_ATTEMPTS.

Replies are at least once: a crash after sending a reply and before marking the
row processed resends that reply on restart, unless its send row already holds
a wamid (each reply's key is 'reply:<wamid>:<n>'). What the message asked for
(a bet, a deposit) is idempotent on the wamid, so it happens once.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

import asyncpg
import structlog

from server import metrics
from server.auth.users import get_or_create_user_by_phone
from server.channels.whatsapp.limits import record_inbound
from server.channels.whatsapp.payloads import InboundMessage
from server.channels.whatsapp.router import route
from server.channels.whatsapp.sender import Sender
from server.db import DbConn
from server.state import AppState

log = structlog.get_logger(__name__)

CLAIM_BATCH = 50
LEASE_S = 300  # longer than the slowest reply (pair-rate waits and retries included)
MAX_ATTEMPTS = 5
POLL_INTERVAL_S = 1.0


# The order a user's messages are answered in: their own timestamp (whole seconds),
# then the delivery, then the position in that delivery's payload. Messages of one POST
# share received_at, so without the position their order would be where rows land.
PROCESSING_ORDER = "sent_at, received_at, position, wamid"


async def persist(conn: DbConn, items: list[InboundMessage]) -> int:
    """Insert new messages with their position in the payload; return how many were new
    (duplicates insert nothing)."""
    new = 0
    for position, msg in enumerate(items):
        inserted = await conn.fetchval(
            "INSERT INTO wa_inbound (wamid, phone_e164, payload, sent_at, position)"
            " VALUES ($1, $2, $3, $4, $5) ON CONFLICT (wamid) DO NOTHING RETURNING true",
            msg.wamid, msg.phone_e164, msg.as_json(), datetime.fromtimestamp(msg.sent_at_s, UTC),
            position,
        )
        if inserted:
            new += 1
            metrics.WA_INBOUND.labels(msg.kind).inc()
    return new


async def claim(pool: asyncpg.Pool, limit: int = CLAIM_BATCH) -> list[asyncpg.Record]:
    """Lease up to `limit` unprocessed rows, skipping rows others hold, and return them in
    PROCESSING_ORDER (UPDATE ... RETURNING has no order of its own, hence the outer SELECT)."""
    return list(await pool.fetch(
        f"""
        WITH claimed AS (
            UPDATE wa_inbound SET claimed_until = now() + make_interval(secs => $2),
                                  attempts = attempts + 1
            WHERE wamid IN (
                SELECT wamid FROM wa_inbound
                WHERE processed_at IS NULL AND (claimed_until IS NULL OR claimed_until < now())
                ORDER BY {PROCESSING_ORDER} LIMIT $1 FOR UPDATE SKIP LOCKED)
            RETURNING *)
        SELECT * FROM claimed ORDER BY {PROCESSING_ORDER}
        """,
        limit, float(LEASE_S),
    ))


def _message(row: asyncpg.Record) -> InboundMessage:
    p: dict[str, Any] = row["payload"]
    return InboundMessage(
        wamid=row["wamid"], phone_e164=row["phone_e164"],
        sent_at_s=int(row["sent_at"].timestamp()), kind=p["kind"], text=p["text"],
        reply_id=p.get("reply_id"), profile_name=p.get("profile_name"),
        media_id=p.get("media_id"), media_type=p.get("media_type"), mime_type=p.get("mime_type"),
    )


async def process_one(state: AppState, sender: Sender, row: asyncpg.Record) -> None:
    """Answer one message: find or create the player, note the window, route, reply."""
    msg = _message(row)
    user = await get_or_create_user_by_phone(state.pool, msg.phone_e164)
    await record_inbound(state.pool, user.id, msg.phone_e164, min(row["sent_at"], sender.now()))
    replies = await route(state, user, msg)
    for i, reply in enumerate(replies):
        await sender.send_now(
            key=f"reply:{msg.wamid}:{i}", user_id=user.id, phone_e164=msg.phone_e164,
            kind="reply", message=reply,
        )
    await state.pool.execute(
        "UPDATE wa_inbound SET processed_at = now(), error = NULL WHERE wamid = $1", msg.wamid
    )


async def _process_user(state: AppState, sender: Sender, rows: list[asyncpg.Record]) -> None:
    for row in rows:  # one user's messages in PROCESSING_ORDER (see claim)
        try:
            await process_one(state, sender, row)
        except Exception as exc:
            log.exception("whatsapp_inbound_failed", wamid=row["wamid"])
            give_up = row["attempts"] >= MAX_ATTEMPTS
            await state.pool.execute(
                "UPDATE wa_inbound SET error = $2, claimed_until = now() + interval '5 seconds',"
                " processed_at = CASE WHEN $3 THEN now() ELSE NULL END WHERE wamid = $1",
                row["wamid"], f"{type(exc).__name__}: {exc}"[:500], give_up,
            )


async def run_once(state: AppState, sender: Sender) -> int:
    """Claim and process one batch; return how many rows were claimed."""
    rows = await claim(state.pool)
    by_user: dict[str, list[asyncpg.Record]] = defaultdict(list)
    for row in rows:
        by_user[row["phone_e164"]].append(row)
    await asyncio.gather(*(_process_user(state, sender, rs) for rs in by_user.values()))
    return len(rows)


async def run_forever(state: AppState, sender: Sender, wakeup: asyncio.Event) -> None:
    """Process as messages arrive (woken by the webhook) and poll for other nodes' rows."""
    while True:
        started = time.monotonic()
        wakeup.clear()  # before claiming, so a message stored meanwhile wakes the next round
        try:
            claimed = await run_once(state, sender)
        except Exception:
            log.exception("whatsapp_inbound_batch_failed")
            claimed = 0
        if claimed >= CLAIM_BATCH:
            continue
        idle_s = max(0.0, POLL_INTERVAL_S - (time.monotonic() - started))
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(idle_s):
                await wakeup.wait()
