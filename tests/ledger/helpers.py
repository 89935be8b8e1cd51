"""Small helpers for ledger tests: unique owners, deposits, a hand-driven clock."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from ledger import Transfer, TransferKind, TransferRequest

CUR = "KES"


def new_user() -> str:
    return f"user:{uuid.uuid4()}"


def new_escrow() -> str:
    return f"escrow:{uuid.uuid4()}"


def req(debit: str, credit: str, amount_minor: int, *, id: uuid.UUID | None = None,
        kind: TransferKind = TransferKind.SINGLE, **kw: Any) -> TransferRequest:
    return TransferRequest(
        id=id or uuid.uuid4(), debit=debit, credit=credit, amount_minor=amount_minor,
        currency=kw.pop("currency", CUR), kind=kind, **kw,
    )


async def deposit(ledger: Any, user: str, amount_minor: int) -> None:
    await ledger.transfer(req("world", user, amount_minor, code="deposit"))


def post(hold: Transfer, *, named: bool = True) -> TransferRequest:
    """Post the whole hold; `named=False` leaves accounts, currency and amount to the hold."""
    return TransferRequest(
        id=uuid.uuid4(), debit=hold.debit if named else "",
        credit=hold.credit if named else "", amount_minor=hold.amount_minor if named else 0,
        currency=hold.currency if named else "", kind=TransferKind.POST, pending_id=hold.id,
        code="stake")


def void(hold: Transfer, *, named: bool = True) -> TransferRequest:
    """Release the hold; `named=False` leaves accounts, currency and amount to the hold."""
    return dataclasses.replace(post(hold, named=named), kind=TransferKind.VOID, code="refund")


def duel_settlement(holds: Sequence[Transfer], escrow: str, winner: str) -> list[TransferRequest]:
    """A duel's settlement, shaped as rooms/ledger_settlement.py sends one: every stake
    posted into escrow, then the pot less 10% paid to `winner` and the 10% to the house."""
    pot = sum(h.amount_minor for h in holds)
    return [*(post(h) for h in holds), req(escrow, winner, pot * 9 // 10, code="payout"),
            req(escrow, "house", pot - pot * 9 // 10, code="rake")]


@dataclass
class ManualClock:
    """Time that moves only when a test says so."""

    now: datetime = field(default_factory=lambda: datetime.now(UTC))

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)
