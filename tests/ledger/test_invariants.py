"""check_invariants() finds each kind of broken books.

Each test breaks the books on purpose, so it works in a throwaway schema with the ledger's own
migrations, never in the shared test database (whose invariants are checked after every test).
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from ledger import InvariantViolation, Ledger
from tests.ledger.helpers import CUR, ManualClock, deposit, new_escrow, new_user, req


async def _books(pool: Any, clock: ManualClock | None = None) -> dict[str, Any]:
    """Sound books: a deposit, a posted hold and a voided one, all consistent."""
    ledger = Ledger(pool, clock=clock)
    user, escrow = new_user(), new_escrow()
    await deposit(ledger, user, 1_000)
    posted = await ledger.hold(uuid.uuid4(), user, escrow, 300, CUR, timeout_s=60, code="stake")
    post = await ledger.post(uuid.uuid4(), posted.id)
    voided = await ledger.hold(uuid.uuid4(), user, escrow, 200, CUR, timeout_s=60, code="stake")
    await ledger.void(uuid.uuid4(), voided.id)
    single = await ledger.transfer(req(user, "house", 100))
    await ledger.check_invariants()
    return {"ledger": ledger, "hold": posted, "post": post, "single": single}


async def _findings(ledger: Ledger) -> str:
    with pytest.raises(InvariantViolation) as err:
        await ledger.check_invariants()
    return err.value.message


async def test_a_void_pointing_at_a_single_transfer(scratch: Any) -> None:
    books = await _books(scratch)
    await scratch.execute(
        "INSERT INTO transfers (id, debit_account_id, credit_account_id, amount_minor, currency,"
        " kind, pending_id, code)"
        " SELECT gen_random_uuid(), debit_account_id, credit_account_id, amount_minor, currency,"
        "        'void', id, 'void' FROM transfers WHERE id = $1",
        books["single"].id,
    )
    found = await _findings(books["ledger"])
    assert f"points at single {books['single'].id}, not at a hold" in found


async def test_a_post_made_after_its_hold_expired(scratch: Any) -> None:
    clock = ManualClock()
    books = await _books(scratch, clock)
    await scratch.execute(
        "UPDATE transfers p SET created_at = h.expires_at FROM transfers h"
        " WHERE p.id = $1 AND h.id = p.pending_id", books["post"].id,
    )
    found = await _findings(books["ledger"])
    assert f"post {books['post'].id} made at" in found
    assert f"after hold {books['hold'].id} expired" in found


async def test_a_transfer_in_another_currency_than_its_accounts(scratch: Any) -> None:
    books = await _books(scratch)
    await scratch.execute("UPDATE transfers SET currency = 'USD' WHERE id = $1", books["single"].id)
    found = await _findings(books["ledger"])
    assert f"transfer {books['single'].id} in USD between" in found
    assert f"({CUR})" in found


async def test_a_transfer_naming_an_account_that_does_not_exist(scratch: Any) -> None:
    """transfers has no foreign keys to accounts: the check is what finds a dangling id."""
    books = await _books(scratch)
    missing = await scratch.fetchval("SELECT max(id) + 1000 FROM accounts")
    await scratch.execute(
        "UPDATE transfers SET credit_account_id = $2 WHERE id = $1", books["single"].id, missing
    )
    found = await _findings(books["ledger"])
    assert f"transfer {books['single'].id}: its credit account {missing} does not exist" in found
