"""Holds: reserve, post (full or partial), void, expiry and the sweeper."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest

from ledger import (
    CurrencyMismatch,
    HoldAlreadyResolved,
    HoldExpired,
    HoldNotFound,
    IdempotencyConflict,
    InsufficientFunds,
    InvalidTransfer,
    Ledger,
    TransferKind,
    TransferRequest,
    transfer_id,
)
from tests.ledger.helpers import CUR, ManualClock, deposit, new_escrow, new_user, req


async def _staked(ledger: Ledger, amount: int = 1_000, stake: int = 600) -> tuple[str, str, Any]:
    user, escrow = new_user(), new_escrow()
    await deposit(ledger, user, amount)
    hold = await ledger.hold(uuid.uuid4(), user, escrow, stake, CUR, timeout_s=60, code="stake")
    return user, escrow, hold


async def test_hold_reserves_without_moving(ledger: Ledger) -> None:
    user, escrow, hold = await _staked(ledger)
    assert hold.kind == TransferKind.PENDING and hold.expires_at is not None
    bal = await ledger.balance(user, CUR)
    assert (bal.posted_minor, bal.pending_debits_minor, bal.available_minor) == (1_000, 600, 400)
    assert (await ledger.balance(escrow, CUR)).pending_credits_minor == 600
    with pytest.raises(InsufficientFunds):
        await ledger.transfer(req(user, "house", 401))
    with pytest.raises(InsufficientFunds):
        await ledger.hold(uuid.uuid4(), user, "house", 401, CUR, timeout_s=60, code="stake")
    await ledger.void(uuid.uuid4(), hold.id)


async def test_full_post_moves_the_held_amount(ledger: Ledger) -> None:
    user, escrow, hold = await _staked(ledger)
    post = await ledger.post(uuid.uuid4(), hold.id)
    assert (post.kind, post.amount_minor, post.pending_id) == ("post", 600, hold.id)
    assert (post.debit, post.credit, post.currency) == (user, escrow, CUR)
    user_bal, escrow_bal = await ledger.balance(user, CUR), await ledger.balance(escrow, CUR)
    assert (user_bal.posted_minor, user_bal.pending_debits_minor) == (400, 0)
    assert (escrow_bal.posted_minor, escrow_bal.pending_credits_minor) == (600, 0)
    stored = await ledger.get_transfer(hold.id)
    assert stored is not None and stored.resolved


async def test_partial_post_releases_the_rest(ledger: Ledger) -> None:
    user, escrow, hold = await _staked(ledger)
    await ledger.post(uuid.uuid4(), hold.id, 250)
    bal = await ledger.balance(user, CUR)
    assert (bal.posted_minor, bal.pending_debits_minor, bal.available_minor) == (750, 0, 750)
    assert (await ledger.balance(escrow, CUR)).posted_minor == 250


async def test_post_more_than_held_is_refused(ledger: Ledger) -> None:
    user, _, hold = await _staked(ledger)
    with pytest.raises(InvalidTransfer, match="cannot post"):
        await ledger.post(uuid.uuid4(), hold.id, 601)
    with pytest.raises(InvalidTransfer):
        await ledger.post(uuid.uuid4(), hold.id, 0)
    assert (await ledger.balance(user, CUR)).pending_debits_minor == 600
    await ledger.void(uuid.uuid4(), hold.id)


async def test_void_releases_everything(ledger: Ledger) -> None:
    user, escrow, hold = await _staked(ledger)
    void = await ledger.void(uuid.uuid4(), hold.id, code="match_cancelled")
    assert (void.kind, void.amount_minor, void.code) == ("void", 600, "match_cancelled")
    bal = await ledger.balance(user, CUR)
    assert (bal.posted_minor, bal.available_minor) == (1_000, 1_000)
    assert (await ledger.balance(escrow, CUR)).pending_credits_minor == 0


async def test_a_hold_resolves_at_most_once(ledger: Ledger) -> None:
    _, _, hold = await _staked(ledger)
    post_id = uuid.uuid4()
    first = await ledger.post(post_id, hold.id)
    assert await ledger.post(post_id, hold.id) == first  # replay of the same post
    with pytest.raises(HoldAlreadyResolved) as err:
        await ledger.post(uuid.uuid4(), hold.id)
    assert err.value.code == "hold_already_resolved"
    with pytest.raises(HoldAlreadyResolved):
        await ledger.void(uuid.uuid4(), hold.id)
    with pytest.raises(IdempotencyConflict):
        await ledger.void(post_id, hold.id)  # same id, other kind


async def test_replayed_void_returns_first_result(ledger: Ledger) -> None:
    _, _, hold = await _staked(ledger)
    void_id = transfer_id(hold.id, "cancel")
    first = await ledger.void(void_id, hold.id)
    assert await ledger.void(void_id, hold.id) == first


async def test_unknown_hold(ledger: Ledger) -> None:
    with pytest.raises(HoldNotFound) as err:
        await ledger.post(uuid.uuid4(), uuid.uuid4())
    assert err.value.code == "hold_not_found"
    single = await ledger.transfer(req("world", new_user(), 5))
    with pytest.raises(HoldNotFound):
        await ledger.void(uuid.uuid4(), single.id)


async def test_post_naming_other_accounts_or_currency_is_refused(ledger: Ledger) -> None:
    user, escrow, hold = await _staked(ledger)
    base = dict(id=uuid.uuid4(), amount_minor=0, kind=TransferKind.POST, pending_id=hold.id)
    with pytest.raises(CurrencyMismatch) as err:
        await ledger.transfer(TransferRequest(debit=user, credit=escrow, currency="USD", **base))
    assert err.value.code == "currency_mismatch"
    with pytest.raises(InvalidTransfer, match="differ"):
        await ledger.transfer(TransferRequest(debit=user, credit="house", currency=CUR, **base))
    with pytest.raises(InvalidTransfer, match="whole hold"):
        await ledger.transfer(TransferRequest(
            id=uuid.uuid4(), debit=user, credit=escrow, currency=CUR, amount_minor=5,
            kind=TransferKind.VOID, pending_id=hold.id))
    post = await ledger.transfer(TransferRequest(debit=user, credit=escrow, currency=CUR, **base))
    assert post.amount_minor == 600


async def test_hold_and_settlement_in_one_batch(ledger: Ledger) -> None:
    """A match settles as one linked batch: post both stakes, pay the winner, rake the house."""
    room = uuid.uuid4()
    a, b, escrow = new_user(), new_user(), new_escrow()
    await deposit(ledger, a, 1_000)
    await deposit(ledger, b, 1_000)
    holds = [await ledger.hold(transfer_id(room, "stake", u), u, escrow, 500, CUR,
                               timeout_s=60, code="stake") for u in (a, b)]
    house_before = (await ledger.balance("house", CUR)).posted_minor
    settle = [
        TransferRequest(id=transfer_id(room, "post", h.id), debit="", credit="", amount_minor=0,
                        currency="", kind=TransferKind.POST, pending_id=h.id)
        for h in holds
    ] + [req(escrow, a, 900, id=transfer_id(room, "payout", a), code="payout"),
         req(escrow, "house", 100, id=transfer_id(room, "rake"), code="rake")]
    await ledger.batch(settle)
    assert (await ledger.balance(a, CUR)).posted_minor == 1_400
    assert (await ledger.balance(b, CUR)).posted_minor == 500
    assert (await ledger.balance(escrow, CUR)).posted_minor == 0
    assert (await ledger.balance("house", CUR)).posted_minor == house_before + 100
    # A failing settlement leaves the holds unresolved.
    room2 = uuid.uuid4()
    hold = await ledger.hold(transfer_id(room2, "stake", a), a, escrow, 300, CUR,
                             timeout_s=60, code="stake")
    with pytest.raises(InsufficientFunds):
        await ledger.batch([
            TransferRequest(id=uuid.uuid4(), debit="", credit="", amount_minor=0, currency="",
                            kind=TransferKind.POST, pending_id=hold.id),
            req(escrow, a, 301),
        ])
    stored = await ledger.get_transfer(hold.id)
    assert stored is not None and not stored.resolved
    assert (await ledger.balance(a, CUR)).pending_debits_minor == 300
    await ledger.void(uuid.uuid4(), hold.id)


async def test_expired_hold_cannot_be_posted_and_is_swept(pool: Any, ledger: Ledger) -> None:
    clock = ManualClock()
    timed = Ledger(pool, clock=clock)
    user, escrow = new_user(), new_escrow()
    await deposit(timed, user, 1_000)
    hold = await timed.hold(uuid.uuid4(), user, escrow, 700, CUR, timeout_s=30, code="stake")
    await timed.sweep_expired_holds()
    assert not (await timed.get_transfer(hold.id)).resolved  # type: ignore[union-attr]
    clock.advance(31)
    with pytest.raises(HoldExpired) as err:
        await timed.post(uuid.uuid4(), hold.id)
    assert err.value.code == "hold_expired"
    with pytest.raises(HoldExpired):
        await timed.void(uuid.uuid4(), hold.id)
    assert (await timed.balance(user, CUR)).pending_debits_minor == 700
    assert await timed.sweep_expired_holds() >= 1
    void = await timed.get_transfer(transfer_id(hold.id, "expire"))
    assert void is not None and (void.kind, void.amount_minor, void.code) == ("void", 700, "expire")
    assert (await timed.balance(user, CUR)).available_minor == 1_000
    with pytest.raises(HoldAlreadyResolved):
        await timed.post(uuid.uuid4(), hold.id)


async def test_stale_hold_is_an_invariant_violation(pool: Any, ledger: Ledger) -> None:
    from ledger import InvariantViolation

    clock = ManualClock()
    timed = Ledger(pool, clock=clock)
    user = new_user()
    await deposit(timed, user, 100)
    hold = await timed.hold(uuid.uuid4(), user, new_escrow(), 100, CUR, timeout_s=10, code="stake")
    clock.advance(10 + 29)
    await timed.check_invariants()  # within the grace period
    clock.advance(2)
    with pytest.raises(InvariantViolation, match=str(hold.id)):
        await timed.check_invariants()
    await timed.sweep_expired_holds()
    await timed.check_invariants()


async def test_two_sweepers_void_each_hold_once(pool: Any, ledger: Ledger) -> None:
    clock = ManualClock()
    node_a, node_b = Ledger(pool, clock=clock), Ledger(pool, clock=clock)
    user = new_user()
    await deposit(node_a, user, 10_000)
    holds = [await node_a.hold(uuid.uuid4(), user, new_escrow(), 100, CUR, timeout_s=5,
                               code="stake") for _ in range(40)]
    clock.advance(6)
    await asyncio.gather(node_a.sweep_expired_holds(), node_b.sweep_expired_holds())
    for h in holds:
        stored = await node_a.get_transfer(h.id)
        assert stored is not None and stored.resolved
    bal = await node_a.balance(user, CUR)
    assert (bal.posted_minor, bal.pending_debits_minor) == (10_000, 0)


async def test_sweep_limit_is_bounded(ledger: Ledger) -> None:
    with pytest.raises(InvalidTransfer):
        await ledger.sweep_expired_holds(limit=0)
