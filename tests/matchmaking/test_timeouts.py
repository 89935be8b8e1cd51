"""Majibu's rule: no opponent within max_wait_s -> the stake comes back with a house bonus, once."""

from __future__ import annotations

import asyncio

import pytest
from redis.asyncio import Redis

from matchmaking import NotQueued, QueueSpec
from tests.matchmaking.support import ManualClock, make_matchmaker

STAKE = 10_000
QUIZ = QueueSpec("quiz", "KES", STAKE)


async def test_a_ticket_waiting_past_the_limit_is_refunded_with_a_five_percent_bonus(
    redis: Redis, prefix: str, clock: ManualClock
) -> None:
    mm, money = make_matchmaker(redis, clock=clock, prefix=prefix, window_max=50)
    lonely = await mm.join("lonely", "quiz", STAKE, "KES", 1000)
    far = await mm.join("far", "quiz", STAKE, "KES", 2000)
    clock.advance(1_800_000)  # exactly the limit: not past it yet
    assert await mm.expire_once(QUIZ) == []
    clock.advance(1)
    expired = await mm.expire_once(QUIZ)
    assert {t.id for t in expired} == {lonely.id, far.id}
    assert money.balance("lonely") == money.start_balance_minor + 500
    assert money.bonus_paid_minor[lonely.id] == 500
    assert money.holds == {}
    assert await mm.queue_length(QUIZ) == 0
    with pytest.raises(NotQueued):
        await mm.leave("lonely")
    await mm.join("lonely", "quiz", STAKE, "KES")  # the player may queue again


async def test_a_paired_ticket_is_never_refunded(
    redis: Redis, prefix: str, clock: ManualClock
) -> None:
    mm, money = make_matchmaker(redis, clock=clock, prefix=prefix)
    await mm.join("alice", "quiz", STAKE, "KES")
    await mm.join("bob", "quiz", STAKE, "KES")
    assert len(await mm.pair_once(QUIZ)) == 1
    clock.advance(3_600_000)
    assert await mm.expire_once(QUIZ) == []
    assert not money.refunded and len(money.holds) == 2


async def test_two_processes_expiring_at_once_refund_each_ticket_once(
    redis: Redis, prefix: str, clock: ManualClock
) -> None:
    first, money = make_matchmaker(redis, clock=clock, prefix=prefix, window_max=0,
                                   window_start=0)
    second, _ = make_matchmaker(redis, clock=clock, prefix=prefix, money=money, window_max=0,
                                window_start=0)
    tickets = [await first.join(f"u{i}", "quiz", STAKE, "KES", 1000 + i) for i in range(60)]
    clock.advance(1_800_001)
    results = await asyncio.gather(
        *(mm.expire_once(QUIZ, limit=7) for mm in (first, second, first, second) * 5)
    )
    expired = [t.id for batch in results for t in batch]
    assert sorted(expired) == sorted(t.id for t in tickets)
    assert set(money.refunded.values()) == {1}
    assert sum(money.bonus_paid_minor.values()) == 60 * 500


async def test_a_refund_that_crashed_is_retried_after_the_lease_and_paid_once(
    redis: Redis, prefix: str, clock: ManualClock
) -> None:
    mm, money = make_matchmaker(redis, clock=clock, prefix=prefix, lease_s=30)
    ticket = await mm.join("alice", "quiz", STAKE, "KES")
    money.fail_refunds = 1
    clock.advance(1_800_001)
    assert await mm.expire_once(QUIZ) == []  # decided, but the refund did not go through
    assert money.balance("alice") == money.start_balance_minor - STAKE
    assert await mm.recover_once(QUIZ) == 0  # the lease has not run out
    clock.advance(30_001)
    assert await mm.recover_once(QUIZ) == 1
    assert money.refunded[ticket.id] == 1
    assert money.balance("alice") == money.start_balance_minor + 500
    clock.advance(30_001)
    assert await mm.recover_once(QUIZ) == 0
