"""Account owner names come from ledger.accounts, and the database agrees on their kinds."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from ledger import (
    HOUSE,
    WORLD,
    Ledger,
    clearing_account,
    escrow_account,
    user_account,
    user_id_of,
)
from tests.ledger.helpers import CUR, req


def test_names_have_one_spelling() -> None:
    uid = uuid.UUID("00000000-0000-0000-0000-000000000001")
    assert user_account(uid) == f"user:{uid}"
    assert user_account("42") == "user:42"
    assert escrow_account("quiz") == "escrow:quiz"
    assert escrow_account("football", uid) == f"escrow:football:{uid}"
    assert clearing_account("mpesa") == "clearing:mpesa"
    assert (HOUSE, WORLD) == ("house", "world")


def test_user_id_round_trips() -> None:
    assert user_id_of(user_account("abc")) == "abc"
    for other in (HOUSE, WORLD, escrow_account("quiz"), clearing_account("mpesa"), "user:"):
        assert user_id_of(other) is None


@pytest.mark.parametrize("call", [
    lambda: user_account(""),
    lambda: escrow_account(""),
    lambda: escrow_account("a:b"),
    lambda: escrow_account("quiz", ""),
    lambda: escrow_account("quiz", "x:y"),
    lambda: clearing_account(""),
    lambda: clearing_account("m:pesa"),
    lambda: user_account(" 1"),
])
def test_malformed_names_are_refused(call: Any) -> None:
    with pytest.raises(AssertionError):
        call()


async def test_each_name_opens_the_account_kind_it_stands_for(ledger: Ledger, pool: Any) -> None:
    user = user_account(uuid.uuid4())
    escrow = escrow_account("test", uuid.uuid4())
    clearing = clearing_account(f"test{uuid.uuid4().hex[:8]}")
    await ledger.batch([
        req(WORLD, clearing, 500, code="deposit"),
        req(clearing, user, 500, code="deposit"),
        req(user, escrow, 300, code="stake"),
        req(escrow, HOUSE, 300, code="rake"),
    ])
    rows = await pool.fetch(
        "SELECT owner, kind, floor_minor FROM accounts WHERE currency = $1 AND owner = ANY($2)",
        CUR, [user, escrow, clearing, HOUSE, WORLD],
    )
    kinds = {r["owner"]: (r["kind"], r["floor_minor"]) for r in rows}
    assert kinds == {
        user: ("user", 0), escrow: ("escrow", 0), clearing: ("clearing", None),
        HOUSE: ("house", None), WORLD: ("world", None),
    }
