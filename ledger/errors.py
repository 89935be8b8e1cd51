"""Typed ledger errors. Each carries a stable `code` that the edge returns as-is."""

from __future__ import annotations


class LedgerError(Exception):
    """Base of every ledger failure; `code` is stable snake_case for clients."""

    code = "ledger_error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidTransfer(LedgerError):
    """The request itself is malformed (non-positive amount, same account twice, bad kind)."""

    code = "invalid_transfer"


class AccountNotFound(LedgerError):
    code = "account_not_found"


class CurrencyMismatch(LedgerError):
    code = "currency_mismatch"


class InsufficientFunds(LedgerError):
    """The debit would take an account below its floor."""

    code = "insufficient_funds"


class IdempotencyConflict(LedgerError):
    """A transfer id was reused with different content."""

    code = "idempotency_conflict"


class HoldNotFound(LedgerError):
    code = "hold_not_found"


class HoldAlreadyResolved(LedgerError):
    """The hold was already posted, voided or expired."""

    code = "hold_already_resolved"


class HoldExpired(LedgerError):
    code = "hold_expired"


class InvariantViolation(LedgerError):
    """`check_invariants()` found the books inconsistent: a bug, never a user error."""

    code = "invariant_violation"


class DuplicateExtRef(IdempotencyConflict):
    """A provider receipt (`ext_ref`) is already recorded on another transfer."""

    code = "duplicate_ext_ref"


class LedgerBusy(LedgerError):
    """The database kept reporting deadlocks or serialization failures; safe to retry later."""

    code = "ledger_busy"


ERRORS_BY_CODE: dict[str, type[LedgerError]] = {
    cls.code: cls
    for cls in (
        InvalidTransfer, AccountNotFound, CurrencyMismatch, InsufficientFunds,
        IdempotencyConflict, HoldNotFound, HoldAlreadyResolved, HoldExpired, DuplicateExtRef,
        LedgerBusy, InvariantViolation,
    )
}
# ledger_apply answers "retry" when it lost a race on an id; the Ledger re-runs such a group,
# and if one still reaches a caller it is the same situation as busy: retry later, same ids.
ERRORS_BY_CODE["retry"] = LedgerBusy
