"""Many tasks at once: no overdraft, no lost unit, no stuck deadlock, one commit per id."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest

from ledger import InsufficientFunds, Ledger, LedgerBusy, TransferKind, TransferRequest
from tests.ledger.helpers import (
    CUR,
    deposit,
    duel_settlement,
    new_escrow,
    new_user,
    req,
    void,
)


async def test_200_tasks_spending_one_account_never_overdraw(ledger: Ledger) -> None:
    spender = new_user()
    sinks = [new_user() for _ in range(10)]
    await deposit(ledger, spender, 10_000)
    amounts = [37 + (i * 53) % 200 for i in range(200)]  # sums to well over 10_000

    async def spend(i: int) -> int:
        try:
            await ledger.transfer(req(spender, sinks[i % 10], amounts[i]))
        except InsufficientFunds:
            return 0
        return amounts[i]

    spent = await asyncio.gather(*(spend(i) for i in range(200)))
    bal = await ledger.balance(spender, CUR)
    received = sum([(await ledger.balance(s, CUR)).posted_minor for s in sinks])
    assert sum(amounts) > 10_000 and 0 < sum(spent) <= 10_000
    assert bal.posted_minor == 10_000 - sum(spent) >= 0
    assert received == sum(spent)
    # A refused spend was refused for a reason: the remainder could not cover it.
    refused = [a for a, s in zip(amounts, spent, strict=True) if s == 0]
    assert all(a > bal.posted_minor for a in refused)


async def test_200_holds_on_one_account_never_overdraw(ledger: Ledger) -> None:
    spender, escrow = new_user(), new_escrow()
    await deposit(ledger, spender, 5_000)

    async def stake() -> int:
        try:
            h = await ledger.hold(uuid.uuid4(), spender, escrow, 73, CUR, timeout_s=60,
                                  code="stake")
        except InsufficientFunds:
            return 0
        await ledger.post(uuid.uuid4(), h.id)
        return 73

    got = await asyncio.gather(*(stake() for _ in range(200)))
    assert sum(got) == 73 * (5_000 // 73)
    assert (await ledger.balance(spender, CUR)).posted_minor == 5_000 - sum(got)
    assert (await ledger.balance(escrow, CUR)).posted_minor == sum(got)


async def test_opposite_order_batches_all_complete(pool: Any, ledger: Ledger) -> None:
    users = [new_user() for _ in range(6)]
    for u in users:
        await deposit(ledger, u, 100_000)
    # Several independent Ledger objects so batches run in separate transactions at once.
    ledgers = [Ledger(pool, max_inflight=1) for _ in range(8)]

    async def shuffle(k: int) -> None:
        order = users if k % 2 == 0 else list(reversed(users))
        for _ in range(5):
            await ledgers[k % 8].batch(
                [req(order[i], order[(i + 1) % 6], 10 + k) for i in range(6)]
            )

    await asyncio.wait_for(asyncio.gather(*(shuffle(k) for k in range(40))), 60)
    # Each batch is a cycle, so every balance ends where it started.
    for u in users:
        assert (await ledger.balance(u, CUR)).posted_minor == 100_000
    history, _ = await ledger.history(users[0], CUR, limit=500)
    assert len(history) == 1 + 40 * 5 * 2


async def test_same_id_from_20_tasks_commits_once(pool: Any, ledger: Ledger) -> None:
    user = new_user()
    payout = req("house", user, 1_234, code="payout")
    ledgers = [Ledger(pool) for _ in range(4)]
    results = await asyncio.gather(*(ledgers[i % 4].transfer(payout) for i in range(20)))
    assert all(r == results[0] for r in results)
    assert (await ledger.balance(user, CUR)).posted_minor == 1_234
    history, _ = await ledger.history(user, CUR)
    assert [t.id for t in history] == [payout.id]


async def test_same_post_from_20_tasks_resolves_once(pool: Any, ledger: Ledger) -> None:
    user, escrow = new_user(), new_escrow()
    await deposit(ledger, user, 500)
    hold = await ledger.hold(uuid.uuid4(), user, escrow, 500, CUR, timeout_s=60, code="stake")
    post = TransferRequest(id=uuid.uuid4(), debit="", credit="", amount_minor=0, currency="",
                           kind=TransferKind.POST, pending_id=hold.id)
    ledgers = [Ledger(pool) for _ in range(4)]
    results = await asyncio.gather(*(ledgers[i % 4].transfer(post) for i in range(20)))
    assert all(r == results[0] for r in results)
    assert (await ledger.balance(escrow, CUR)).posted_minor == 500



async def test_settlements_and_holds_racing_on_one_escrow_keep_exact_books(pool: Any) -> None:
    """Thirty duels settle (posts, payout, rake: the set-based path) on one escrow while
    twenty refunds void other stakes and forty more players hold stakes into it, from many
    tasks on four ledgers; every stake ends exactly where its duel sent it."""
    escrow = new_escrow()
    ledgers = [Ledger(pool) for _ in range(4)]
    players = [new_user() for _ in range(120)]
    await ledgers[0].batch([req("world", p, 1_000) for p in players])
    held = await asyncio.gather(*(
        ledgers[i % 4].hold(uuid.uuid4(), p, escrow, 100, CUR, timeout_s=600, code="stake")
        for i, p in enumerate(players[:80])))

    duels = [duel_settlement(held[2 * k : 2 * k + 2], escrow, held[2 * k].debit)
             for k in range(30)]
    house_before = (await ledgers[0].balance("house", CUR)).posted_minor
    results = await asyncio.gather(
        *(ledgers[k % 4].batch(d) for k, d in enumerate(duels)),
        *(ledgers[k % 4].transfer(void(h)) for k, h in enumerate(held[60:80])),
        *(ledgers[k % 4].hold(uuid.uuid4(), p, escrow, 100, CUR, timeout_s=600, code="stake")
          for k, p in enumerate(players[80:])))
    assert len(results) == 30 + 20 + 40
    for k in range(30):
        winner, loser = held[2 * k].debit, held[2 * k + 1].debit
        assert (await ledgers[0].balance(winner, CUR)).posted_minor == 1_080
        assert (await ledgers[0].balance(loser, CUR)).posted_minor == 900
    for h in held[60:80]:
        assert (await ledgers[0].balance(h.debit, CUR)).available_minor == 1_000
    esc = await ledgers[0].balance(escrow, CUR)
    assert (esc.posted_minor, esc.pending_credits_minor) == (0, 40 * 100)
    assert (await ledgers[0].balance("house", CUR)).posted_minor == house_before + 30 * 20
    await ledgers[0].check_invariants()

class _AnswerLost(Ledger):
    """A real ledger whose next call commits but whose answer never arrives (a cut connection).

    `shared_only`: only a call that carries several coalesced jobs loses its answer.
    """

    def __init__(self, pool: Any, *, shared_only: bool, **kw: Any) -> None:
        super().__init__(pool, **kw)
        self.shared_only = shared_only
        self.armed = True

    async def _apply_groups(self, conn: Any, groups: Any, *, allow_expired: bool) -> Any:
        outcomes = await super()._apply_groups(conn, groups, allow_expired=allow_expired)
        if self.armed and (len(groups) > 1 or not self.shared_only):
            self.armed = False
            raise ConnectionResetError("the answer was lost after the commit")
        return outcomes


async def test_on_commit_reports_a_shared_call_whose_answer_was_lost(pool: Any) -> None:
    """The coalesced jobs re-run alone and find replays: they are still reported, once."""
    seen: list[uuid.UUID] = []
    lossy = _AnswerLost(pool, shared_only=True, max_inflight=1,
                        on_commit=lambda ts: seen.extend(t.id for t in ts))
    user = new_user()
    reqs = [req("world", user, 10 + i) for i in range(3)]  # 1st alone, then 2nd+3rd shared
    results = await asyncio.gather(*(lossy.transfer(r) for r in reqs))
    assert not lossy.armed, "the shared call lost its answer"
    assert [t.id for t in results] == [r.id for r in reqs]
    assert sorted(seen) == sorted(r.id for r in reqs)
    assert (await lossy.balance(user, CUR)).posted_minor == 10 + 11 + 12


async def test_a_lone_call_whose_answer_was_lost_tells_the_caller_what_committed(
    pool: Any,
) -> None:
    seen: list[uuid.UUID] = []
    lossy = _AnswerLost(pool, shared_only=False,
                        on_commit=lambda ts: seen.extend(t.id for t in ts))
    r = req("world", new_user(), 25)
    assert (await lossy.transfer(r)).id == r.id
    assert not lossy.armed and seen == [r.id]


async def _cancel_new_tasks(before: set[asyncio.Task[Any]], caller: asyncio.Task[Any]) -> int:
    flushes = asyncio.all_tasks() - before - {caller}
    for task in flushes:
        task.cancel()
    return len(flushes)


async def test_a_flush_cancelled_while_waiting_on_the_database_settles_its_caller(
    pool: Any,
) -> None:
    ledger = Ledger(pool, max_inflight=1)
    user = new_user()
    await deposit(ledger, user, 100)
    spend = req(user, "house", 40)
    async with pool.acquire() as blocker:
        async with blocker.transaction():
            await blocker.execute(
                "SELECT 1 FROM accounts WHERE owner = $1 AND currency = $2 FOR UPDATE", user, CUR
            )
            before = asyncio.all_tasks()
            caller = asyncio.create_task(ledger.transfer(spend))
            for _ in range(3):
                await asyncio.sleep(0)  # let the flush start its call (it waits on the lock)
            assert await _cancel_new_tasks(before, caller) >= 1
            with pytest.raises(LedgerBusy):
                await asyncio.wait_for(caller, 30)
    # The outcome was unknown: retrying with the same id commits it exactly once.
    assert (await ledger.transfer(spend)).id == spend.id
    assert (await ledger.balance(user, CUR)).posted_minor == 60


async def test_a_flush_cancelled_before_it_ran_settles_its_caller(pool: Any) -> None:
    ledger = Ledger(pool, max_inflight=1)
    r = req("world", new_user(), 5)
    before = asyncio.all_tasks()
    caller = asyncio.create_task(ledger.transfer(r))
    await asyncio.sleep(0)  # the caller queues its job; the flush task exists, not started
    assert await _cancel_new_tasks(before, caller) == 1
    with pytest.raises(LedgerBusy):
        await asyncio.wait_for(caller, 30)
    # The coalescer is not left thinking a flush is still in flight.
    assert (await asyncio.wait_for(ledger.transfer(r), 30)).id == r.id
