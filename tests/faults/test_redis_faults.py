"""Redis failing under matchmaking: a real redis-server stopped or restarted mid-join.

After every test the ledger's invariants hold (autouse fixture) and no stake hold
outlives its ticket: every unresolved stake hold of the test's players belongs to a
ticket that is waiting in its queue.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
from redis.asyncio import Redis

from ledger import TransferRequest, transfer_id
from matchmaking import Match, MatchConfig, Matchmaker, QueueSpec, ServiceUnavailable
from server.config import Settings
from server.features.play.stakes import LedgerStakes
from tests.faults.support import RedisProcess, pending_holds_of
from tests.matchmaking.support import ManualClock

STAKE = 10_000
QUIZ = QueueSpec("quiz", "KES", STAKE)
DEPOSIT = 100_000


async def funded(ledger: Any, n: int) -> list[str]:
    users = [str(uuid.uuid4()) for _ in range(n)]
    await asyncio.gather(*(ledger.transfer(TransferRequest(
        id=transfer_id("fault-deposit", u), debit="world", credit=f"user:{u}",
        amount_minor=DEPOSIT, currency="KES", code="deposit",
    )) for u in users))
    return users


async def assert_no_hold_without_ticket(pool: Any, mm: Matchmaker, users: list[str]) -> None:
    """Every unresolved stake hold of `users` belongs to a ticket waiting in the queue."""
    queue = mm.keys.for_queue(QUIZ).queue
    for ticket_id, user in (await pending_holds_of(pool, users)).items():
        assert await mm._redis.zscore(queue, ticket_id) is not None, (
            f"{user}'s stake is held for ticket {ticket_id}, which is not queued")


class StopRedisAfterHold(LedgerStakes):
    """The real ledger StakeHolder; once the `after`-th hold commits, the real Redis process
    is stopped (or restarted): joins in flight then meet it between hold and ticket."""

    def __init__(self, ledger: Any, proc: RedisProcess, *, after: int = 1,
                 restart: bool = False) -> None:
        super().__init__(ledger, game="quiz")
        self.proc = proc
        self.left = after
        self.restart = restart

    async def hold(self, ticket_id: str, user_id: str, stake_minor: int, currency: str,
                   timeout_s: int) -> str:
        hold_id = await super().hold(ticket_id, user_id, stake_minor, currency, timeout_s)
        self.left -= 1
        if self.left == 0:
            await asyncio.to_thread(self.proc.restart if self.restart else self.proc.stop)
        return hold_id


async def test_redis_dying_between_hold_and_ticket_releases_the_hold_and_the_claim(
    fault_redis: Redis, fault_settings: Settings, redis_proc: RedisProcess, ledger: Any,
    pool: Any, clock: ManualClock,
) -> None:
    stakes = StopRedisAfterHold(ledger, redis_proc, after=1)
    ids = iter(["t-dying", "t-again"])
    mm = Matchmaker(fault_redis, fault_settings.redis_prefix, money=stakes, clock=clock,
                    config=MatchConfig(), new_id=lambda: next(ids))
    [user] = await funded(ledger, 1)
    with pytest.raises(ServiceUnavailable) as err:
        await mm.join(user, "quiz", STAKE, "KES")
    assert err.value.code == "service_unavailable"
    # Released at once, with the ticket's one void id, not left to the sweeper.
    assert await ledger.get_transfer(transfer_id("t-dying", "void")) is not None
    assert (await ledger.balance(f"user:{user}", "KES")).available_minor == DEPOSIT
    assert await stakes.hold_state("t-dying", str(transfer_id("t-dying", "hold"))) == "voided"

    await asyncio.to_thread(redis_proc.start)
    # The claim the dead Redis kept is dropped: the player may join again at once.
    ticket = await mm.join(user, "quiz", STAKE, "KES")
    assert ticket.id == "t-again"
    await assert_no_hold_without_ticket(pool, mm, [user])
    assert (await mm.leave(user)).id == "t-again"
    assert await pending_holds_of(pool, [user]) == {}


async def test_a_paired_ticket_whose_hold_is_gone_is_never_seated(
    redis: Redis, prefix: str, clock: ManualClock, ledger: Any, pool: Any,
) -> None:
    """A join abandoned while Redis was unreachable voided its hold, yet its ENQUEUE had
    landed: the pairing must not seat it (its stake could never be posted)."""
    matches: list[Match] = []

    async def on_match(match: Match) -> None:
        matches.append(match)

    stakes = LedgerStakes(ledger, game="quiz")
    mm = Matchmaker(redis, prefix, money=stakes, clock=clock, config=MatchConfig(),
                    on_match=on_match)
    ghost_user, bob, carol = await funded(ledger, 3)
    ghost = await mm.join(ghost_user, "quiz", STAKE, "KES", rating=1000)
    bob_ticket = await mm.join(bob, "quiz", STAKE, "KES", rating=1010)
    await stakes.release(ghost.id, ghost.hold_id)  # what the abandoned join did

    assert await mm.pair_once(QUIZ) == []
    assert matches == []
    assert await mm.ticket_of(bob) == bob_ticket  # back in the queue, same wait
    assert await stakes.hold_state(bob_ticket.id, bob_ticket.hold_id) == "held"
    assert await mm.ticket_of(ghost_user) is None
    assert await mm.queue_length(QUIZ) == 1

    await mm.join(carol, "quiz", STAKE, "KES", rating=1005)
    [match] = await mm.pair_once(QUIZ)
    assert {t.user_id for t in match.tickets} == {bob, carol} and matches == [match]
    for t in match.tickets:  # the room could not be played: give both stakes back
        await stakes.release(t.id, t.hold_id)
    again = await mm.join(ghost_user, "quiz", STAKE, "KES")  # the ghost's player is free
    await mm.leave(ghost_user)
    assert again.id != ghost.id
    assert await pending_holds_of(pool, [ghost_user, bob, carol]) == {}


@pytest.mark.parametrize("outage", ["restart", "down_past_the_retries"])
async def test_a_redis_outage_during_a_burst_of_joins_leaves_no_hold_without_a_ticket(
    outage: str, fault_redis: Redis, fault_settings: Settings, redis_proc: RedisProcess,
    ledger: Any, pool: Any, clock: ManualClock,
) -> None:
    """`restart`: Redis restarts on the same port mid-burst (the client's retries usually
    carry every join across). `down_past_the_retries`: Redis stops mid-burst and comes
    back only after the burst gave up, so joins fail between hold and ticket."""
    stakes = StopRedisAfterHold(ledger, redis_proc, after=10, restart=outage == "restart")
    mm = Matchmaker(fault_redis, fault_settings.redis_prefix, money=stakes, clock=clock,
                    config=MatchConfig())
    users = await funded(ledger, 40)
    results = await asyncio.gather(
        *(mm.join(u, "quiz", STAKE, "KES", rating=1000 + 20 * n) for n, u in enumerate(users)),
        return_exceptions=True,
    )
    if outage != "restart":
        assert any(isinstance(r, ServiceUnavailable) for r in results)
        await asyncio.to_thread(redis_proc.start)
    failed = [u for u, r in zip(users, results, strict=True) if isinstance(r, BaseException)]
    for r in results:
        assert not isinstance(r, BaseException) or isinstance(r, ServiceUnavailable), repr(r)
    await assert_no_hold_without_ticket(pool, mm, users)
    for u, r in zip(users, results, strict=True):
        if not isinstance(r, BaseException):
            assert await stakes.hold_state(r.id, r.hold_id) == "held"
            assert (await mm.ticket_of(u)) == r

    # After the restart every join and every leave succeeds, including for the players
    # whose join failed (their claim was dropped or is dropped by the next join).
    later = await funded(ledger, 40)
    for ticket in await asyncio.gather(*(mm.join(u, "quiz", STAKE, "KES") for u in later)):
        assert await stakes.hold_state(ticket.id, ticket.hold_id) == "held"
    await asyncio.gather(*(mm.join(u, "quiz", STAKE, "KES") for u in failed))
    everyone = users + later
    await asyncio.gather(*(mm.leave(u) for u in everyone))
    assert await pending_holds_of(pool, everyone) == {}
    assert await mm.queue_length(QUIZ) == 0
