"""Small helpers for ledger tests: unique owners, deposits, a hand-driven clock."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from ledger import TransferKind, TransferRequest

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


@dataclass
class ManualClock:
    """Time that moves only when a test says so."""

    now: datetime = field(default_factory=lambda: datetime.now(UTC))

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)
