"""Many tasks at once: no overdraft, no lost unit, no stuck deadlock, one commit per id."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from ledger import InsufficientFunds, Ledger, TransferKind, TransferRequest
from tests.ledger.helpers import CUR, deposit, new_escrow, new_user, req


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
