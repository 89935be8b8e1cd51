"""The schema keeps what the dropped account foreign keys of `transfers` used to guarantee.

Accounts are never deleted, truncated or renumbered, so an account id a transfer names stays
valid. These tests try, in a throwaway schema with the ledger's own migrations (a TRUNCATE
would otherwise wait for every session using the shared test database).
"""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg
import pytest

from ledger import Ledger
from tests.ledger.helpers import CUR, deposit, new_user


@pytest.mark.parametrize("statement", [
    "DELETE FROM accounts WHERE owner = $1",
    "DELETE FROM accounts WHERE owner <> $1",
    "TRUNCATE accounts",
    "TRUNCATE accounts, transfers",
    "UPDATE accounts SET id = id + 1000000 WHERE owner = $1",
])
async def test_accounts_cannot_be_deleted_truncated_or_renumbered(
    scratch: Any, statement: str,
) -> None:
    ledger = Ledger(scratch)
    user = new_user()
    await deposit(ledger, user, 700)
    before = await scratch.fetch("SELECT * FROM accounts ORDER BY id")
    args = [user] if "$1" in statement else []
    with pytest.raises(asyncpg.RestrictViolationError, match="never deleted"):
        await scratch.execute(statement, *args)
    assert await scratch.fetch("SELECT * FROM accounts ORDER BY id") == before
    assert (await ledger.balance(user, CUR)).posted_minor == 700
    await ledger.check_invariants()


async def test_only_the_pending_id_foreign_key_of_transfers_is_left(scratch: Any) -> None:
    keys = await scratch.fetch(
        "SELECT conname, confrelid::regclass::text AS target FROM pg_constraint"
        " WHERE conrelid = 'transfers'::regclass AND contype = 'f'"
    )
    assert [(k["conname"], k["target"]) for k in keys] == [
        ("transfers_pending_id_fkey", "transfers")]


async def test_pending_id_and_ext_ref_stay_unique(scratch: Any) -> None:
    """Partial unique indexes (NULLs left out) keep both unique at the table itself."""
    ledger = Ledger(scratch)
    user = new_user()
    await deposit(ledger, user, 700)
    copy = (
        "INSERT INTO transfers (id, debit_account_id, credit_account_id, amount_minor,"
        " currency, kind, pending_id, expires_at, ext_ref, code)"
        " SELECT gen_random_uuid(), debit_account_id, credit_account_id, amount_minor,"
        " currency, kind, {pending}, expires_at, {ext_ref}, code FROM transfers LIMIT 1"
    )
    await scratch.execute("UPDATE transfers SET ext_ref = 'R-1'")
    with pytest.raises(asyncpg.UniqueViolationError, match="transfers_ext_ref_key"):
        await scratch.execute(copy.format(pending="NULL", ext_ref="'R-1'"))
    await scratch.execute(copy.format(pending="NULL", ext_ref="NULL"))  # NULLs never clash
    hold = await ledger.hold(uuid.uuid4(), user, "house", 5, CUR, timeout_s=60, code="stake")
    void = (
        "INSERT INTO transfers (id, debit_account_id, credit_account_id, amount_minor,"
        " currency, kind, pending_id, code)"
        " SELECT gen_random_uuid(), debit_account_id, credit_account_id, amount_minor,"
        " currency, 'void', id, 'void' FROM transfers WHERE id = $1"
    )
    await scratch.execute(void, hold.id)
    with pytest.raises(asyncpg.UniqueViolationError, match="transfers_pending_id_key"):
        await scratch.execute(void, hold.id)
