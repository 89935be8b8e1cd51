"""Matchpot's double-entry ledger: exact, conserved, exactly-once money (docs/ledger.md)."""

from ledger import outbox
from ledger.accounts import (
    HOUSE,
    WORLD,
    clearing_account,
    escrow_account,
    user_account,
    user_id_of,
)
from ledger.core import Ledger
from ledger.errors import (
    AccountNotFound,
    CurrencyMismatch,
    DuplicateExtRef,
    HoldAlreadyResolved,
    HoldExpired,
    HoldNotFound,
    IdempotencyConflict,
    InsufficientFunds,
    InvalidTransfer,
    InvariantViolation,
    LedgerBusy,
    LedgerError,
)
from ledger.money import BPS_PER_UNIT, bps_down, payout_at_odds, split_pot, split_shares
from ledger.outbox import ClaimedMessage
from ledger.rows import Conn
from ledger.types import (
    AccountKind,
    Balance,
    OutboxMessage,
    Transfer,
    TransferKind,
    TransferRequest,
    transfer_id,
)

__all__ = [
    "BPS_PER_UNIT",
    "HOUSE",
    "WORLD",
    "AccountKind",
    "AccountNotFound",
    "Balance",
    "ClaimedMessage",
    "Conn",
    "CurrencyMismatch",
    "DuplicateExtRef",
    "HoldAlreadyResolved",
    "HoldExpired",
    "HoldNotFound",
    "IdempotencyConflict",
    "InsufficientFunds",
    "InvalidTransfer",
    "InvariantViolation",
    "Ledger",
    "LedgerBusy",
    "LedgerError",
    "OutboxMessage",
    "Transfer",
    "TransferKind",
    "TransferRequest",
    "bps_down",
    "clearing_account",
    "escrow_account",
    "outbox",
    "payout_at_odds",
    "split_pot",
    "split_shares",
    "transfer_id",
    "user_account",
    "user_id_of",
]
