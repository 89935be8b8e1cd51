"""Lock waits: expiry is judged once the locks are held; a big batch keeps the global lock order."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
from structlog.testing import capture_logs

from ledger import HoldExpired, Ledger, TransferKind, TransferRequest
from tests.ledger.helpers import CUR, deposit, new_escrow, new_user, req


async def test_a_post_that_waited_past_the_expiry_is_refused(pool: Any, ledger: Ledger) -> None:
    """The post starts before the hold expires, waits behind a lock, and acts after it."""
    user, escrow = new_user(), new_escrow()
    await deposit(ledger, user, 1_000)
    async with pool.acquire() as poster, poster.transaction():
        # The poster's transaction (and so its now()) begins before the hold even exists.
        await poster.execute("SELECT now()")
        hold = await ledger.hold(uuid.uuid4(), user, escrow, 600, CUR, timeout_s=1, code="stake")
        assert hold.expires_at is not None
        post = TransferRequest(id=uuid.uuid4(), debit="", credit="", amount_minor=0, currency="",
                               kind=TransferKind.POST, pending_id=hold.id)
        async with pool.acquire() as blocker:
            async with blocker.transaction():
                await blocker.execute(
                    "SELECT 1 FROM accounts WHERE owner = $1 AND currency = $2 FOR UPDATE",
                    user, CUR,
                )
                posting = asyncio.create_task(ledger.apply(poster, [post]))
                # Keep the lock until the hold has expired by the database's own clock.
                await blocker.execute("SELECT pg_sleep_until($1)", hold.expires_at)
            with pytest.raises(HoldExpired):
                await posting
    assert (await ledger.balance(escrow, CUR)).posted_minor == 0
    assert await ledger.get_transfer(post.id) is None
    assert await ledger.sweep_expired_holds() >= 1
    assert (await ledger.balance(user, CUR)).available_minor == 1_000


async def test_a_big_batch_races_small_transfers_without_deadlock(pool: Any) -> None:
    """A multi-chunk apply (house -> many users) against many user -> house transfers.

    The users' accounts are opened before the house's, so the house has the highest id: a
    single transfer locks its user, then the house. A batch that locked chunk by chunk would
    hold the house and then wait for a user whose transfer waits for the house: a deadlock.
    """
    cur = "LK" + uuid.uuid4().hex[:10].upper()
    ledger = Ledger(pool)
    users = [new_user() for _ in range(2_400)]
    for start in range(0, len(users), 800):
        await ledger.batch([req("world", u, 100, currency=cur) for u in users[start:start + 800]])
    await ledger.transfer(req("world", "house", 1, currency=cur))  # opened last: highest id
    payouts = [req("house", u, 10, currency=cur, code="payout") for u in users]
    racers = [Ledger(pool, max_inflight=1) for _ in range(6)]
    # Users of the second and third chunks: those a chunk-by-chunk batch locks late.
    small = [req(u, "house", 1, currency=cur) for u in users[1000::4]]

    async def big() -> int:
        async with pool.acquire() as conn, conn.transaction():
            return len(await ledger.apply(conn, payouts))

    with capture_logs() as logs:
        results = await asyncio.wait_for(asyncio.gather(
            big(), *(racers[i % 6].transfer(t) for i, t in enumerate(small)),
            return_exceptions=True,
        ), 120)
    errors = [r for r in results if isinstance(r, BaseException)]
    assert errors == []
    # Not even a retried deadlock: every call took its locks in one global order.
    assert [e for e in logs if "retry" in e["event"]] == []
    assert results[0] == len(users)
    house = await ledger.balance("house", cur)
    assert house.posted_minor == 1 - 10 * len(users) + len(small)
    assert [(await ledger.balance(u, cur)).posted_minor for u in users[998:1006]] == [
        110, 110, 109, 110, 110, 110, 109, 110,
    ]
