"""The transactional outbox: messages committed with the outcome that caused them.

A worker claims due rows with a lease (FOR UPDATE SKIP LOCKED), so two nodes never hold the
same row at once; a row whose lease lapsed (its worker died) becomes due again. Delivery is
therefore at-least-once: the message id is the idempotency key for the receiving side.

A claim is identified by (id, attempts): each claim increments `attempts`. Marking a message
sent, retried or failed with the ClaimedMessage succeeds only while that claim still holds it,
so a worker whose lease lapsed and was taken over cannot overwrite what the new holder
records, and learns (False / "lease_lost") that another worker owns the message now. Each
claim counts as an attempt, so a message whose sending keeps crashing the worker (no mark at
all) is also capped: after MAX_ATTEMPTS claims whose lease lapsed, it is marked failed.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from ledger.rows import Conn
from ledger.types import OutboxMessage

MAX_ATTEMPTS = 8  # after this many failed deliveries a message is marked failed
MAX_CLAIM = 500
MAX_LEASE_S = 3600.0
BACKOFF_BASE_S = 2.0
BACKOFF_CAP_S = 600.0
MAX_ERROR_CHARS = 2000


LEASE_LOST = "lease_lost"


@dataclass(frozen=True, slots=True)
class ClaimedMessage:
    """An outbox row leased to this worker until `lease_until`."""

    id: uuid.UUID
    channel: str
    recipient: str
    kind: str
    payload: dict[str, Any]
    attempts: int  # including this one
    created_at: datetime
    lease_until: datetime


def backoff_s(attempts: int) -> float:
    """Exponential delay before the next try, capped, so a dead provider is not hammered."""
    assert attempts >= 1
    # Seconds of delay, not money: the ledger's amounts never leave integer minor units.
    return min(BACKOFF_CAP_S, BACKOFF_BASE_S * 2.0 ** min(attempts - 1, 20))


async def enqueue(
    conn: Conn, messages: Sequence[OutboxMessage], *,
    available_at: datetime | None = None,
) -> int:
    """Write messages inside the caller's transaction; an id already present is kept as is.

    Returns how many rows were new.
    """
    if not messages:
        return 0
    rows = await conn.fetch(
        "INSERT INTO outbox (id, channel, recipient, kind, payload, available_at)"
        " SELECT u.id, u.channel, u.recipient, u.kind, u.payload::jsonb,"
        "        coalesce($6::timestamptz, now())"
        "   FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[])"
        "        AS u(id, channel, recipient, kind, payload)"
        " ON CONFLICT (id) DO NOTHING RETURNING id",
        [m.id for m in messages], [m.channel for m in messages],
        [m.recipient for m in messages], [m.kind for m in messages],
        [json.dumps(m.payload, separators=(",", ":")) for m in messages], available_at,
    )
    return len(rows)


async def claim_due(
    pool: asyncpg.Pool, channel: str, limit: int, lease_s: float
) -> list[ClaimedMessage]:
    """Lease up to `limit` due messages of `channel`, oldest first.

    Messages that already used MAX_ATTEMPTS claims and are not held any more (the last
    worker crashed or hung while sending) are marked failed instead of being handed out again.
    """
    assert 1 <= limit <= MAX_CLAIM, f"claim 1..{MAX_CLAIM} at a time"
    assert 0 < lease_s <= MAX_LEASE_S
    rows = await pool.fetch(
        "WITH dead AS ("
        "  UPDATE outbox SET state = 'failed', lease_until = NULL,"
        "         last_error = left('gave up after ' || attempts || ' claims without a result'"
        "                           || coalesce('; last error: ' || last_error, ''), $5)"
        "   WHERE id IN (SELECT id FROM outbox"
        "                 WHERE channel = $1 AND state = 'pending' AND attempts >= $4"
        "                   AND (lease_until IS NULL OR lease_until <= now())"
        "                 FOR UPDATE SKIP LOCKED)),"
        " due AS ("
        "  SELECT id FROM outbox"
        "   WHERE channel = $1 AND state = 'pending' AND available_at <= now()"
        "     AND (lease_until IS NULL OR lease_until <= now()) AND attempts < $4"
        "   ORDER BY available_at LIMIT $2 FOR UPDATE SKIP LOCKED)"
        " UPDATE outbox o SET lease_until = now() + make_interval(secs => $3),"
        "        attempts = o.attempts + 1"
        "   FROM due WHERE o.id = due.id"
        " RETURNING o.id, o.channel, o.recipient, o.kind, o.payload::text AS payload,"
        "           o.attempts, o.created_at, o.lease_until, o.available_at",
        channel, limit, lease_s * 1.0,  # make_interval takes double precision seconds
        MAX_ATTEMPTS, MAX_ERROR_CHARS,
    )
    rows = sorted(rows, key=lambda r: r["available_at"])
    return [
        ClaimedMessage(
            id=r["id"], channel=r["channel"], recipient=r["recipient"], kind=r["kind"],
            payload=json.loads(r["payload"]), attempts=r["attempts"],
            created_at=r["created_at"], lease_until=r["lease_until"],
        )
        for r in rows
    ]


def _claim(msg: ClaimedMessage | uuid.UUID) -> tuple[uuid.UUID, int | None]:
    """(id, attempts of the claim); a bare id (the older call style) checks no claim."""
    if isinstance(msg, ClaimedMessage):
        return msg.id, msg.attempts
    return msg, None


# Appended to each mark's WHERE: the row is pending and, for a ClaimedMessage, still held by
# that very claim (a later claim incremented attempts; a mark cleared lease_until).
_HELD = (
    " AND state = 'pending'"
    " AND ($3::int IS NULL OR (attempts = $3 AND lease_until IS NOT NULL))"
)


async def mark_sent(
    pool: asyncpg.Pool, msg: ClaimedMessage | uuid.UUID, provider_ref: str | None
) -> bool:
    """Record delivery; False if this worker's claim no longer holds the message.

    Pass the ClaimedMessage: a bare id is accepted from older callers but checks only that
    the row is still pending, not that this worker still holds it.
    """
    id, attempts = _claim(msg)
    status = await pool.execute(
        "UPDATE outbox SET state = 'sent', sent_at = now(), lease_until = NULL,"
        " provider_ref = $2 WHERE id = $1" + _HELD,
        id, provider_ref, attempts,
    )
    return bool(status == "UPDATE 1")


async def mark_retry(
    pool: asyncpg.Pool, msg: ClaimedMessage | uuid.UUID, error: str,
    retry_at: datetime | None = None,
) -> str:
    """Schedule another try (at `retry_at`, else after backoff_s(attempts)).

    After MAX_ATTEMPTS the message is marked failed instead. Returns the new state
    ("pending" or "failed"), or LEASE_LOST if this worker's claim no longer holds it.
    """
    id, attempts = _claim(msg)
    state = await pool.fetchval(
        "UPDATE outbox SET lease_until = NULL, last_error = $2,"
        " state = CASE WHEN attempts >= $5 THEN 'failed' ELSE 'pending' END,"
        " available_at = coalesce($4::timestamptz,"
        "   now() + make_interval(secs => least($7, $6 * 2 ^ least(attempts - 1, 20))))"
        " WHERE id = $1" + _HELD + " RETURNING state",
        id, error[:MAX_ERROR_CHARS], attempts, retry_at, MAX_ATTEMPTS, BACKOFF_BASE_S,
        BACKOFF_CAP_S,
    )
    return str(state) if state is not None else LEASE_LOST


async def mark_failed(pool: asyncpg.Pool, msg: ClaimedMessage | uuid.UUID, error: str) -> bool:
    """Give up on a message (a permanent error); False if this claim no longer holds it."""
    id, attempts = _claim(msg)
    status = await pool.execute(
        "UPDATE outbox SET state = 'failed', lease_until = NULL, last_error = $2"
        " WHERE id = $1" + _HELD,
        id, error[:MAX_ERROR_CHARS], attempts,
    )
    return bool(status == "UPDATE 1")
