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
from ledger.money import bps_down, split_pot, split_rake, split_shares, times_down
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
    "split_pot",
    "split_rake",
    "split_shares",
    "times_down",
    "transfer_id",
    "user_account",
    "user_id_of",
]
