"""server/features/play/stakes.py on the real ledger: hold, void on leave, bonus on timeout."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from redis.asyncio import Redis

from ledger import TransferRequest, transfer_id
from matchmaking import HoldRefused, MatchConfig, Matchmaker, QueueSpec
from server.features.play.stakes import LedgerStakes, timeout_bonus_minor
from tests.matchmaking.support import ManualClock

STAKE = 10_000
QUIZ = QueueSpec("quiz", "KES", STAKE)
DEPOSIT = 100_000


async def funded_user(ledger: Any, amount_minor: int = DEPOSIT) -> str:
    user_id = str(uuid.uuid4())
    if amount_minor:
        await ledger.transfer(TransferRequest(
            id=transfer_id("test-deposit", user_id), debit="world", credit=f"user:{user_id}",
            amount_minor=amount_minor, currency="KES", code="deposit",
        ))
    return user_id


def matchmaker(redis: Redis, prefix: str, clock: ManualClock, ledger: Any) -> Matchmaker:
    return Matchmaker(redis, prefix, money=LedgerStakes(ledger, game="quiz"), clock=clock,
                      config=MatchConfig(window_max=50))


async def test_join_holds_and_leave_voids_the_stake_in_the_ledger(
    redis: Redis, prefix: str, clock: ManualClock, ledger: Any
) -> None:
    mm = matchmaker(redis, prefix, clock, ledger)
    user = await funded_user(ledger)
    ticket = await mm.join(user, "quiz", STAKE, "KES")
    held = await ledger.balance(f"user:{user}", "KES")
    assert (held.posted_minor, held.available_minor) == (DEPOSIT, DEPOSIT - STAKE)
    hold = await ledger.get_transfer(uuid.UUID(ticket.hold_id))
    assert hold is not None and hold.credit == "escrow:quiz" and hold.amount_minor == STAKE
    await mm.leave(user)
    after = await ledger.balance(f"user:{user}", "KES")
    assert (after.posted_minor, after.available_minor) == (DEPOSIT, DEPOSIT)
    assert await ledger.get_transfer(transfer_id(ticket.id, "void")) is not None


async def test_join_without_enough_balance_holds_nothing(
    redis: Redis, prefix: str, clock: ManualClock, ledger: Any
) -> None:
    mm = matchmaker(redis, prefix, clock, ledger)
    user = await funded_user(ledger, STAKE - 1)
    with pytest.raises(HoldRefused) as err:
        await mm.join(user, "quiz", STAKE, "KES")
    assert err.value.code == "insufficient_funds"
    assert (await ledger.balance(f"user:{user}", "KES")).available_minor == STAKE - 1
    assert await mm.queue_length(QUIZ) == 0
    assert await mm.ticket_of(user) is None


async def test_timeout_voids_the_hold_and_pays_five_percent_once(
    redis: Redis, prefix: str, clock: ManualClock, ledger: Any
) -> None:
    mm = matchmaker(redis, prefix, clock, ledger)
    user = await funded_user(ledger)
    house_before = (await ledger.balance("house", "KES")).posted_minor
    ticket = await mm.join(user, "quiz", STAKE, "KES")
    clock.advance(1_800_001)
    [expired] = await mm.expire_once(QUIZ)
    assert expired.id == ticket.id
    bonus = timeout_bonus_minor(STAKE, 500)
    assert bonus == 500
    after = await ledger.balance(f"user:{user}", "KES")
    assert (after.posted_minor, after.available_minor) == (DEPOSIT + bonus, DEPOSIT + bonus)
    # A retry after a crash (or a second process) calls the refund again: nothing moves.
    stakes = LedgerStakes(ledger, game="quiz")
    for _ in range(2):
        await stakes.refund_with_bonus(ticket.id, ticket.hold_id, user, STAKE, "KES", 500)
    again = await ledger.balance(f"user:{user}", "KES")
    assert (again.posted_minor, again.available_minor) == (DEPOSIT + bonus, DEPOSIT + bonus)
    house_after = (await ledger.balance("house", "KES")).posted_minor
    assert house_before - house_after == bonus
    assert await mm.expire_once(QUIZ) == []


async def test_paired_stakes_stay_held_for_the_room(
    redis: Redis, prefix: str, clock: ManualClock, ledger: Any
) -> None:
    mm = matchmaker(redis, prefix, clock, ledger)
    alice, bob = await funded_user(ledger), await funded_user(ledger)
    await mm.join(alice, "quiz", STAKE, "KES")
    await mm.join(bob, "quiz", STAKE, "KES")
    [match] = await mm.pair_once(QUIZ)
    for t in match.tickets:
        hold = await ledger.get_transfer(uuid.UUID(t.hold_id))
        assert hold is not None and not hold.resolved
        assert (await ledger.balance(f"user:{t.user_id}", "KES")).available_minor == (
            DEPOSIT - STAKE)
    clock.advance(3_600_000)
    assert await mm.expire_once(QUIZ) == []
    stakes = LedgerStakes(ledger, game="quiz")
    for t in match.tickets:  # the room could not be played: both stakes go back
        await stakes.release(t.id, t.hold_id)
        assert (await ledger.balance(f"user:{t.user_id}", "KES")).available_minor == DEPOSIT


async def test_no_timeout_bonus_for_a_hold_a_room_posted(
    redis: Redis, prefix: str, clock: ManualClock, ledger: Any
) -> None:
    """HoldAlreadyResolved because a room posted the stake: the player played, no bonus."""
    stakes = LedgerStakes(ledger, game="quiz")
    user = await funded_user(ledger)
    ticket_id = f"posted-{uuid.uuid4()}"
    hold_id = await stakes.hold(ticket_id, user, STAKE, "KES", 3600)
    await ledger.post(transfer_id("room-x", "post", user), uuid.UUID(hold_id))
    house_before = (await ledger.balance("house", "KES")).posted_minor
    assert await stakes.hold_state(ticket_id, hold_id) == "settled"
    await stakes.refund_with_bonus(ticket_id, hold_id, user, STAKE, "KES", 500)
    assert await ledger.get_transfer(transfer_id(ticket_id, "timeout_bonus")) is None
    assert (await ledger.balance("house", "KES")).posted_minor == house_before
    assert (await ledger.balance(f"user:{user}", "KES")).posted_minor == DEPOSIT - STAKE


async def test_the_timeout_bonus_is_paid_for_a_hold_that_ran_out(
    redis: Redis, prefix: str, clock: ManualClock, ledger: Any, pool: Any
) -> None:
    """HoldAlreadyResolved because the sweeper voided the expired hold: the bonus is owed."""
    from datetime import UTC, datetime, timedelta

    from ledger import Ledger

    stakes = LedgerStakes(ledger, game="quiz")
    user = await funded_user(ledger)
    ticket_id = f"expired-{uuid.uuid4()}"
    hold_id = await stakes.hold(ticket_id, user, STAKE, "KES", 60)
    later = Ledger(pool, clock=lambda: datetime.now(UTC) + timedelta(hours=1))
    await later.sweep_expired_holds()
    assert await stakes.hold_state(ticket_id, hold_id) == "expired"
    await stakes.refund_with_bonus(ticket_id, hold_id, user, STAKE, "KES", 500)
    bonus = timeout_bonus_minor(STAKE, 500)
    assert (await ledger.balance(f"user:{user}", "KES")).available_minor == DEPOSIT + bonus
