"""WhatsApp's sending rules: the 24-hour window, the per-user pair rate, throughput.

All three are shared by every node: the window and the pair-rate slot live in
Postgres (`wa_contacts`), the throughput counter in Redis. Every function takes
`now` from the caller, so tests drive them with a made-up clock.

Pair rate policy: messages to one user are *spaced*, not merged. A sender asks
for the user's next slot; if it is taken, it is told how long to wait (a reply
waits in its worker, an alert is rescheduled in the outbox). Each message keeps
its own per-message key and delivery state.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import asyncpg
from redis.asyncio import Redis

WINDOW = timedelta(hours=24)


async def record_inbound(
    conn: asyncpg.Connection | asyncpg.Pool, user_id: str, phone_e164: str, at: datetime
) -> None:
    """A user wrote to us at `at`: their customer-service window runs 24 h from there."""
    await conn.execute(
        """
        INSERT INTO wa_contacts (user_id, phone_e164, last_inbound_at) VALUES ($1, $2, $3)
        ON CONFLICT (user_id) DO UPDATE
        SET last_inbound_at = GREATEST(wa_contacts.last_inbound_at, EXCLUDED.last_inbound_at),
            phone_e164 = EXCLUDED.phone_e164
        """,
        user_id, phone_e164, at,
    )


async def in_window(pool: asyncpg.Pool, user_id: str, now: datetime) -> bool:
    """True while free-form messages may be sent: the user wrote within the last 24 h."""
    last = await pool.fetchval(
        "SELECT last_inbound_at FROM wa_contacts WHERE user_id = $1", user_id
    )
    return last is not None and now - last < WINDOW


async def claim_pair_slot(
    pool: asyncpg.Pool, user_id: str, phone_e164: str, now: datetime, interval_s: float
) -> float:
    """Take the user's send slot now and return 0.0, or return the seconds until it is free.

    Atomic across nodes: the slot moves forward only if it is not already in the future.
    """
    assert interval_s >= 0
    if interval_s == 0:
        return 0.0
    nxt = now + timedelta(seconds=interval_s)
    row = await pool.fetchrow(
        """
        INSERT INTO wa_contacts (user_id, phone_e164, next_send_at) VALUES ($1, $2, $3)
        ON CONFLICT (user_id) DO UPDATE SET next_send_at = EXCLUDED.next_send_at
        WHERE wa_contacts.next_send_at IS NULL OR wa_contacts.next_send_at <= $4
        RETURNING next_send_at
        """,
        user_id, phone_e164, nxt, now,
    )
    if row is not None:
        return 0.0
    taken = await pool.fetchval("SELECT next_send_at FROM wa_contacts WHERE user_id = $1", user_id)
    if taken is None:
        return 0.0
    return max(0.0, float((taken - now).total_seconds()))


class Throughput:
    """At most `rate_per_s` messages per second per business number, over all nodes.

    A fixed one-second window counted in Redis: simple, shared, and never above
    the rate within any calendar second.
    """

    def __init__(self, redis: Redis, prefix: str, phone_number_id: str, rate_per_s: int) -> None:
        assert rate_per_s >= 1
        self.redis = redis
        self.key_base = f"{prefix}:wa:tps:{phone_number_id}"
        self.rate_per_s = rate_per_s

    async def try_acquire(self, now_s: float) -> float:
        """Take one message from the current second's budget: 0.0, or seconds to wait."""
        second = int(now_s)
        key = f"{self.key_base}:{second}"
        pipe = self.redis.pipeline(transaction=True)
        pipe.incr(key)
        pipe.expire(key, 3)
        count, _ = await pipe.execute()
        if int(count) <= self.rate_per_s:
            return 0.0
        return max(0.001, second + 1 - now_s)
