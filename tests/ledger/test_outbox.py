"""The outbox: written with the money, claimed once at a time, retried with a bound."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from ledger import InsufficientFunds, Ledger, OutboxMessage, outbox
from tests.ledger.helpers import CUR, deposit, new_user, req


def _msg(channel: str, **kw: Any) -> OutboxMessage:
    return OutboxMessage(id=kw.pop("id", uuid.uuid4()), channel=channel, recipient="u1",
                         kind=kw.pop("kind", "payout"), payload=kw.pop("payload", {"n": 1}))


async def _state(pool: Any, id: uuid.UUID) -> Any:
    return await pool.fetchrow("SELECT * FROM outbox WHERE id = $1", id)


async def test_message_commits_with_the_transfer(ledger: Ledger, pool: Any) -> None:
    channel = f"test-{uuid.uuid4().hex[:8]}"
    user = new_user()
    ok, refused = _msg(channel), _msg(channel)
    await ledger.transfer(req("world", user, 100), outbox=[ok])
    with pytest.raises(InsufficientFunds):
        await ledger.transfer(req(user, "house", 101), outbox=[refused])
    assert (await _state(pool, ok.id))["state"] == "pending"
    assert await _state(pool, refused.id) is None
    claimed = await outbox.claim_due(pool, channel, 10, 30)
    assert [(m.id, m.payload, m.attempts) for m in claimed] == [(ok.id, {"n": 1}, 1)]


async def test_enqueue_keeps_the_first_row_for_an_id(ledger: Ledger, pool: Any) -> None:
    channel = f"test-{uuid.uuid4().hex[:8]}"
    first = _msg(channel, payload={"v": 1})
    async with pool.acquire() as conn, conn.transaction():
        assert await outbox.enqueue(conn, [first]) == 1
        assert await outbox.enqueue(conn, [_msg(channel, id=first.id, payload={"v": 2})]) == 0
    assert (await outbox.claim_due(pool, channel, 5, 30))[0].payload == {"v": 1}


async def test_two_workers_never_claim_the_same_row(ledger: Ledger, pool: Any) -> None:
    channel = f"test-{uuid.uuid4().hex[:8]}"
    async with pool.acquire() as conn, conn.transaction():
        await outbox.enqueue(conn, [_msg(channel) for _ in range(60)])
    claims = await asyncio.gather(*(outbox.claim_due(pool, channel, 7, 30) for _ in range(12)))
    ids = [m.id for batch in claims for m in batch]
    assert len(ids) == len(set(ids)) == 60
    # Leased rows are not handed out again while the lease lasts.
    assert await outbox.claim_due(pool, channel, 100, 30) == []


async def test_lapsed_lease_makes_a_row_due_again(ledger: Ledger, pool: Any) -> None:
    channel = f"test-{uuid.uuid4().hex[:8]}"
    m = _msg(channel)
    async with pool.acquire() as conn, conn.transaction():
        await outbox.enqueue(conn, [m])
    (claimed,) = await outbox.claim_due(pool, channel, 1, 30)
    await pool.execute("UPDATE outbox SET lease_until = now() - interval '1 s' WHERE id = $1", m.id)
    (again,) = await outbox.claim_due(pool, channel, 1, 30)
    assert again.id == claimed.id and again.attempts == 2


async def test_sent_retry_and_failed(ledger: Ledger, pool: Any) -> None:
    channel = f"test-{uuid.uuid4().hex[:8]}"
    sent, retried, dead = _msg(channel), _msg(channel), _msg(channel)
    async with pool.acquire() as conn, conn.transaction():
        await outbox.enqueue(conn, [sent, retried, dead])
    await outbox.claim_due(pool, channel, 10, 30)
    assert await outbox.mark_sent(pool, sent.id, "wamid.1")
    assert not await outbox.mark_sent(pool, sent.id, "wamid.2")
    row = await _state(pool, sent.id)
    assert (row["state"], row["provider_ref"]) == ("sent", "wamid.1")

    assert await outbox.mark_retry(pool, retried.id, "HTTP 503") == "pending"
    row = await _state(pool, retried.id)
    assert row["last_error"] == "HTTP 503" and row["lease_until"] is None
    assert row["available_at"] > datetime.now(UTC) + timedelta(seconds=1)  # backed off
    assert await outbox.claim_due(pool, channel, 10, 30) == []  # not due yet

    assert await outbox.mark_failed(pool, dead.id, "recipient blocked")
    assert (await _state(pool, dead.id))["state"] == "failed"


async def test_retries_stop_after_max_attempts(ledger: Ledger, pool: Any) -> None:
    channel = f"test-{uuid.uuid4().hex[:8]}"
    m = _msg(channel)
    async with pool.acquire() as conn, conn.transaction():
        await outbox.enqueue(conn, [m])
    states = []
    for _ in range(outbox.MAX_ATTEMPTS + 2):
        claimed = await outbox.claim_due(pool, channel, 1, 30)
        if not claimed:
            break
        states.append(await outbox.mark_retry(pool, m.id, "down", datetime.now(UTC)))
    assert states == ["pending"] * (outbox.MAX_ATTEMPTS - 1) + ["failed"]
    assert (await _state(pool, m.id))["attempts"] == outbox.MAX_ATTEMPTS


def test_backoff_grows_and_is_capped() -> None:
    delays = [outbox.backoff_s(n) for n in range(1, 30)]
    assert delays == sorted(delays) and delays[0] == outbox.BACKOFF_BASE_S
    assert delays[-1] == outbox.BACKOFF_CAP_S


async def test_deposit_with_user_notice(ledger: Ledger, pool: Any) -> None:
    user = new_user()
    await deposit(ledger, user, 1)
    notice = _msg(f"test-{uuid.uuid4().hex[:8]}", kind="deposit_approved")
    t = req("world", user, 99)
    await ledger.batch([t], outbox=[notice])
    assert await ledger.batch([t], outbox=[notice]) == [await ledger.get_transfer(t.id)]
    assert (await ledger.balance(user, CUR)).posted_minor == 100


async def test_a_worker_whose_lease_was_taken_over_cannot_mark(ledger: Ledger, pool: Any) -> None:
    """Worker A stalls past its lease; B claims and delivers; A's late marks change nothing."""
    channel = f"test-{uuid.uuid4().hex[:8]}"
    m = _msg(channel)
    async with pool.acquire() as conn, conn.transaction():
        await outbox.enqueue(conn, [m])
    (a,) = await outbox.claim_due(pool, channel, 1, 30)
    await pool.execute("UPDATE outbox SET lease_until = now() - interval '1 s' WHERE id = $1", m.id)
    (b,) = await outbox.claim_due(pool, channel, 1, 30)
    assert (a.id, a.attempts, b.attempts) == (m.id, 1, 2)
    assert not await outbox.mark_sent(pool, a, "wamid.A")
    assert await outbox.mark_retry(pool, a, "late") == outbox.LEASE_LOST
    assert not await outbox.mark_failed(pool, a, "late")
    assert await outbox.mark_sent(pool, b, "wamid.B")
    row = await _state(pool, m.id)
    assert (row["state"], row["provider_ref"], row["last_error"]) == ("sent", "wamid.B", None)
    assert not await outbox.mark_sent(pool, b, "wamid.B2")  # recorded once


async def test_a_claim_that_was_marked_cannot_mark_again(ledger: Ledger, pool: Any) -> None:
    channel = f"test-{uuid.uuid4().hex[:8]}"
    m = _msg(channel)
    async with pool.acquire() as conn, conn.transaction():
        await outbox.enqueue(conn, [m])
    (a,) = await outbox.claim_due(pool, channel, 1, 30)
    assert await outbox.mark_retry(pool, a, "HTTP 503", datetime.now(UTC)) == "pending"
    assert not await outbox.mark_sent(pool, a, "wamid.late")  # its lease ended with the retry
    (again,) = await outbox.claim_due(pool, channel, 1, 30)
    assert await outbox.mark_sent(pool, again, "wamid.1")


async def test_a_message_whose_sending_keeps_crashing_is_capped(ledger: Ledger, pool: Any) -> None:
    """The worker dies mid-send every time (no mark at all): each claim is an attempt."""
    channel = f"test-{uuid.uuid4().hex[:8]}"
    m = _msg(channel)
    async with pool.acquire() as conn, conn.transaction():
        await outbox.enqueue(conn, [m])
    claims = 0
    for _ in range(outbox.MAX_ATTEMPTS + 3):
        if not await outbox.claim_due(pool, channel, 1, 30):
            break
        claims += 1
        await pool.execute(  # the lease lapses: the crashed worker never comes back
            "UPDATE outbox SET lease_until = now() - interval '1 s' WHERE id = $1", m.id)
    assert claims == outbox.MAX_ATTEMPTS
    row = await _state(pool, m.id)
    assert (row["state"], row["attempts"]) == ("failed", outbox.MAX_ATTEMPTS)
    assert row["last_error"].startswith(f"gave up after {outbox.MAX_ATTEMPTS} claims")
