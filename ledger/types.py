"""Value types of the ledger: what a caller asks for and what it gets back."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

NAMESPACE = uuid.UUID("6f1c2a7e-3b7d-4c51-9a43-2d8f0e5b9c11")


def transfer_id(*parts: object) -> uuid.UUID:
    """A deterministic id from what caused a transfer: transfer_id(room_id, "payout", user)."""
    assert parts, "a transfer id needs at least one cause"
    return uuid.uuid5(NAMESPACE, ":".join(str(p) for p in parts))


class TransferKind(StrEnum):
    SINGLE = "single"  # posted at once
    PENDING = "pending"  # a hold: reserves the amount on the debit account until post/void/expiry
    POST = "post"  # completes a pending transfer (in full or in part)
    VOID = "void"  # cancels a pending transfer


class AccountKind(StrEnum):
    USER = "user"
    HOUSE = "house"
    WORLD = "world"  # money entering or leaving the system
    CLEARING = "clearing"  # a payment provider in transit
    ESCROW = "escrow"  # stakes of a game, pool or challenge


@dataclass(frozen=True, slots=True)
class TransferRequest:
    """One movement of `amount_minor` from `debit` to `credit` (account owner keys).

    For POST and VOID, `pending_id` names the hold and the accounts must be the
    hold's; a POST with a smaller amount posts part and releases the rest.
    """

    id: uuid.UUID
    debit: str
    credit: str
    amount_minor: int
    currency: str
    kind: TransferKind = TransferKind.SINGLE
    pending_id: uuid.UUID | None = None
    timeout_s: int | None = None  # PENDING only: the hold expires after this
    ext_ref: str | None = None  # a provider receipt; unique across transfers
    code: str = "transfer"  # why: deposit, withdrawal, stake, payout, rake, refund, bonus, ...
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Transfer:
    """A committed transfer row."""

    id: uuid.UUID
    debit: str
    credit: str
    amount_minor: int
    currency: str
    kind: TransferKind
    pending_id: uuid.UUID | None
    expires_at: datetime | None
    ext_ref: str | None
    code: str
    meta: dict[str, Any]
    created_at: datetime
    resolved: bool = False  # PENDING only: already posted or voided


@dataclass(frozen=True, slots=True)
class Balance:
    """An account's position. `available_minor` is what may still be spent."""

    owner: str
    currency: str
    posted_minor: int  # credits_posted - debits_posted
    pending_debits_minor: int  # held, not yet posted or voided
    pending_credits_minor: int
    floor_minor: int | None  # None: no floor (house, world)

    @property
    def available_minor(self) -> int:
        return self.posted_minor - self.pending_debits_minor


@dataclass(frozen=True, slots=True)
class OutboxMessage:
    """A message to deliver (WhatsApp, push, websocket) once the transaction that caused it commits.

    `id` is the idempotency key: writing the same id twice keeps the first row.
    """

    id: uuid.UUID
    channel: str  # "whatsapp", "ws", ...
    recipient: str  # a user id
    kind: str  # match_found, duel_result, payout, deposit_approved, ...
    payload: dict[str, Any] = field(default_factory=dict)
