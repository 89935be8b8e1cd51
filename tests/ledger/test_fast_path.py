"""ledger_apply's set-based fast path: its one-row answer, and the cases it must hand over.

When every item of a call is a new single, pending, post or void transfer (a post or void
of an unresolved hold) between existing accounts whose debits fit in item order,
ledger_apply answers with one 'fast' row and the Ledger builds the transfers from the
requests; these tests hold that answer to the rows actually stored, and
check that replays, floors and lock waits still give what the item-by-item path gives.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from ledger import InsufficientFunds, Ledger, Transfer, TransferKind, TransferRequest
from ledger.rows import APPLY_SQL, apply_args, wire_args
from tests.ledger.helpers import (
    CUR,
    deposit,
    duel_settlement,
    new_escrow,
    new_user,
    post,
    req,
    void,
)

METAS: list[dict[str, Any]] = [
    {},
    {"room": "r-1", "seat": 2},
    {"nested": {"b": [1, 2.5, None, True], "a": "ü ✓"}, "n": -7, "big": 10**15},
]


def _mixed(payer: str, others: Sequence[str], n: int, *, cur: str = CUR) -> list[TransferRequest]:
    """Singles and holds, with and without meta, with differing codes."""
    out = []
    for i in range(n):
        hold = i % 3 == 1
        out.append(req(
            payer, others[i % len(others)], 1 + i,
            kind=TransferKind.PENDING if hold else TransferKind.SINGLE,
            timeout_s=60 + i if hold else None, code="stake" if hold else f"code-{i % 4}",
            meta=METAS[i % len(METAS)], currency=cur,
        ))
    return out


async def _answer(pool: Any, groups: Sequence[Sequence[TransferRequest]]) -> list[Any]:
    """ledger_apply's raw answer to one call carrying `groups` (committed)."""
    async with pool.acquire() as conn:
        return list(await conn.fetch(APPLY_SQL, *wire_args(apply_args(groups, None, False))))


async def _assert_stored(ledger: Ledger, got: Sequence[Transfer]) -> None:
    for t in got:
        assert await ledger.get_transfer(t.id) == t


async def test_a_fast_answer_is_one_row(pool: Any, ledger: Ledger) -> None:
    payer = new_user()
    await deposit(ledger, payer, 100_000)
    rows = await _answer(pool, [_mixed(payer, [new_escrow(), "house"], 30)])
    assert [(r["idx"], r["status"]) for r in rows] == [(0, "fast")]
    assert rows[0]["t_created_at"] is not None


async def test_the_transfers_built_from_a_fast_answer_equal_the_stored_rows(
    ledger: Ledger,
) -> None:
    payer, escrow = new_user(), new_escrow()
    await deposit(ledger, payer, 100_000)
    reqs = _mixed(payer, [escrow, "house", new_user()], 60)
    got = await ledger.batch(reqs)
    assert [t.id for t in got] == [r.id for r in reqs]
    await _assert_stored(ledger, got)
    holds = [t for t in got if t.kind is TransferKind.PENDING]
    assert holds and all(t.expires_at is not None and not t.resolved for t in holds)
    assert [t.meta for t in got] == [r.meta for r in reqs]
    # A meta dict handed back is the transfer's own, not the caller's.
    assert all(t.meta is not r.meta for t, r in zip(got, reqs, strict=True))


async def test_apply_in_chunks_builds_the_stored_rows_too(pool: Any) -> None:
    ledger = Ledger(pool, max_chunk_items=7)
    payer = new_user()
    await deposit(ledger, payer, 100_000)
    reqs = _mixed(payer, [new_escrow(), "house"], 30)
    async with pool.acquire() as conn, conn.transaction():
        got = await ledger.apply(conn, reqs)
    assert [t.id for t in got] == [r.id for r in reqs]
    await _assert_stored(ledger, got)


async def test_jobs_sharing_one_call_each_get_their_own_transfers(pool: Any) -> None:
    ledger = Ledger(pool, max_inflight=1)  # jobs queue behind the first call, then share one
    payers = [new_user() for _ in range(6)]
    await ledger.batch([req("world", p, 10_000) for p in payers])
    jobs = [_mixed(p, [new_escrow(), "house"], 5) for p in payers]
    results = await asyncio.gather(*(ledger.batch(j) for j in jobs))
    for job, got in zip(jobs, results, strict=True):
        assert [t.id for t in got] == [r.id for r in job]
        await _assert_stored(ledger, got)


async def test_first_use_accounts_and_several_currencies_in_one_fast_call(
    pool: Any, ledger: Ledger,
) -> None:
    users = [new_user() for _ in range(4)]
    deposits = [req("world", u, 500, currency=cur) for u in users for cur in (CUR, "CREDITS")]
    rows = await _answer(pool, [deposits])  # every user account is new here
    assert [r["status"] for r in rows] == ["fast"]
    spends = [req(u, "house", 200, currency=cur) for u in users for cur in ("CREDITS", CUR)]
    got = await ledger.batch(spends)
    await _assert_stored(ledger, got)
    for u in users:
        assert [(b.currency, b.posted_minor) for b in await ledger.balances(u)] == [
            ("CREDITS", 300), (CUR, 300)]


async def test_a_replayed_batch_returns_the_first_results(ledger: Ledger) -> None:
    payer = new_user()
    await deposit(ledger, payer, 100_000)
    reqs = _mixed(payer, [new_escrow(), "house"], 40)
    first = await ledger.batch(reqs)
    assert await ledger.batch(reqs) == first
    # Part replay, part new: the replays are the first results, the rest is written.
    more = _mixed(payer, ["house"], 5)
    again = await ledger.batch(reqs[10:20] + more)
    assert again[:10] == first[10:20]
    await _assert_stored(ledger, again)
    spent = sum(r.amount_minor for r in reqs + more)
    assert (await ledger.balance(payer, CUR)).available_minor == 100_000 - spent


async def test_a_debit_beyond_the_floor_before_a_later_credit_fails_as_item_by_item(
    pool: Any, ledger: Ledger,
) -> None:
    """Debits are judged before any later credit of the same call, group by group."""
    a, b = new_user(), new_user()
    await deposit(ledger, a, 100)
    # One call, two groups: the first spends 200 that `a` has only after the second.
    rows = await _answer(pool, [[req(a, b, 200)], [req("world", a, 100)]])
    assert [r["status"] for r in rows] == ["error", "new"]
    assert rows[0]["err"].startswith("insufficient_funds|")
    assert (await ledger.balance(a, CUR)).posted_minor == 200
    # The other way round, the credit comes first and the debit fits: the running balance
    # never dips below the floor, so the set-based path takes it whole.
    rows = await _answer(pool, [[req("world", a, 50)], [req(a, b, 250)]])
    assert [r["status"] for r in rows] == ["fast"]
    assert (await ledger.balance(a, CUR)).posted_minor == 0
    assert (await ledger.balance(b, CUR)).posted_minor == 250


async def test_a_batch_that_waited_for_a_concurrent_update_applies_on_top_of_it(
    pool: Any, ledger: Ledger,
) -> None:
    """The fast path updates the rows it locked; after a lock wait they are the new versions."""
    payer, other = new_user(), new_user()
    await deposit(ledger, payer, 1_000)
    await deposit(ledger, other, 1_000)
    async with pool.acquire() as conn:
        async with conn.transaction():
            await ledger.apply(conn, [req(payer, "house", 300), req(other, payer, 50)])
            waiting = asyncio.create_task(ledger.batch([req(payer, other, 700),
                                                        req(other, "house", 10)]))
            await asyncio.sleep(0.2)
            assert not waiting.done()  # it waits for this transaction's locks
        got = await waiting
    await _assert_stored(ledger, got)
    assert (await ledger.balance(payer, CUR)).posted_minor == 1_000 - 300 + 50 - 700
    assert (await ledger.balance(other, CUR)).posted_minor == 1_000 - 50 + 700 - 10


async def test_a_batch_that_waited_is_judged_against_the_balance_it_waited_for(
    pool: Any, ledger: Ledger,
) -> None:
    """700 would fit the balance before the wait (1000), not the one after it (400)."""
    payer = new_user()
    await deposit(ledger, payer, 1_000)
    async with pool.acquire() as conn:
        async with conn.transaction():
            await ledger.apply(conn, [req(payer, "house", 600)])
            waiting = asyncio.create_task(ledger.batch([req(payer, new_user(), 700)]))
            await asyncio.sleep(0.2)
            assert not waiting.done()
        with pytest.raises(InsufficientFunds):
            await waiting
    assert (await ledger.balance(payer, CUR)).posted_minor == 400


# ---- posts and voids (a settlement's batch) ----------------------------------------------


async def _stakes(ledger: Ledger, escrow: str, n: int, stake: int) -> list[Transfer]:
    """`n` funded players, each with a stake held into `escrow`."""
    holds = []
    for _ in range(n):
        user = new_user()
        await deposit(ledger, user, 1_000)
        holds.append(await ledger.hold(uuid.uuid4(), user, escrow, stake, CUR, timeout_s=600,
                                         code="stake"))
    return holds


async def test_a_settlement_batch_is_one_fast_row_and_resolves_its_holds(
    pool: Any, ledger: Ledger,
) -> None:
    """Posts credit the escrow before the payouts debit it: the running balance fits."""
    escrow = new_escrow()
    holds = await _stakes(ledger, escrow, 4, 100)
    rooms = [holds[:2], holds[2:]]
    calls = [duel_settlement(r, escrow, r[0].debit) for r in rooms]
    rows = await _answer(pool, calls)
    assert [(r["idx"], r["status"]) for r in rows] == [(0, "fast")]
    for h in holds:
        stored = await ledger.get_transfer(h.id)
        assert stored is not None and stored.resolved
    assert (await ledger.balance(escrow, CUR)).posted_minor == 0
    assert (await ledger.balance(escrow, CUR)).pending_credits_minor == 0
    assert (await ledger.balance(holds[0].debit, CUR)).posted_minor == 1_000 - 100 + 180
    assert (await ledger.balance(holds[1].debit, CUR)).posted_minor == 900
    # Through the Ledger, the transfers built from the answer are the stored rows.
    more = await _stakes(ledger, escrow, 2, 50)
    got = await ledger.batch(duel_settlement(more, escrow, more[1].debit))
    await _assert_stored(ledger, got)
    assert [t.kind for t in got] == [TransferKind.POST] * 2 + [TransferKind.SINGLE] * 2
    assert [t.pending_id for t in got[:2]] == [h.id for h in more]
    await ledger.check_invariants()


async def test_posts_and_voids_left_to_their_hold_are_read_back(
    pool: Any, ledger: Ledger,
) -> None:
    """Without accounts and amount in the request, the answer is one stored row per item."""
    escrow = new_escrow()
    holds = await _stakes(ledger, escrow, 3, 70)
    rows = await _answer(pool, [[post(holds[0], named=False), void(holds[1], named=False),
                                 void(holds[2])]])
    assert [r["status"] for r in rows] == ["new"] * 3
    assert [(r["t_debit"], r["t_credit"], r["t_amount"], r["t_kind"]) for r in rows] == [
        (holds[0].debit, escrow, 70, "post"), (holds[1].debit, escrow, 70, "void"),
        (holds[2].debit, escrow, 70, "void")]
    assert [(await ledger.balance(h.debit, CUR)).available_minor for h in holds] == [
        930, 1_000, 1_000]
    await ledger.check_invariants()


async def test_a_resolved_hold_fails_the_batch_as_item_by_item(
    pool: Any, ledger: Ledger,
) -> None:
    escrow = new_escrow()
    holds = await _stakes(ledger, escrow, 2, 100)
    await ledger.void(uuid.uuid4(), holds[1].id)
    batch = duel_settlement(holds, escrow, holds[0].debit)
    rows = await _answer(pool, [batch])
    assert [r["status"] for r in rows] == ["aborted", "error", "aborted", "aborted"]
    assert rows[1]["err"].startswith("hold_already_resolved|")
    for r in batch:
        assert await ledger.get_transfer(r.id) is None
    held = await ledger.get_transfer(holds[0].id)
    assert held is not None and not held.resolved
    # The same hold twice in one call: the second resolution fails, and so does the call.
    rows = await _answer(pool, [[post(holds[0]), void(holds[0])]])
    assert [r["status"] for r in rows] == ["aborted", "error"]
    assert rows[1]["err"].startswith("hold_already_resolved|")
    assert (await ledger.balance(escrow, CUR)).pending_credits_minor == 100


async def test_an_expired_hold_is_refused_unless_expired_ones_may_be_resolved(
    pool: Any, ledger: Ledger,
) -> None:
    escrow = new_escrow()
    [hold] = await _stakes(ledger, escrow, 1, 100)
    later = datetime.now(UTC) + timedelta(hours=1)
    async with pool.acquire() as conn:
        rows = await conn.fetch(APPLY_SQL, *wire_args(apply_args([[void(hold)]], later, False)))
        assert [r["status"] for r in rows] == ["error"]
        assert rows[0]["err"].startswith("hold_expired|")
        rows = await conn.fetch(APPLY_SQL, *wire_args(apply_args([[void(hold)]], later, True)))
        assert [r["status"] for r in rows] == ["fast"]
    assert (await ledger.balance(hold.debit, CUR)).available_minor == 1_000
    await ledger.check_invariants()
