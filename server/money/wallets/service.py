"""Manual deposits and withdrawals: the player's request, the decision, and the money.

HTTP handlers and payment providers both call these functions. Every decision
runs in one transaction that locks the request row, moves the money through
`ledger.apply`, updates the row, writes the audit row and queues the player's
alert, so a decision happens exactly once or not at all. Deciding again the
same way returns the first result and changes nothing.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import asyncpg

from ledger import (
    WORLD,
    OutboxMessage,
    TransferKind,
    TransferRequest,
    clearing_account,
    transfer_id,
    user_account,
)
from ledger import outbox as ledger_outbox
from ledger.errors import HoldAlreadyResolved, HoldExpired, HoldNotFound
from server import metrics
from server.admin.audit import audit
from server.db import DbConn
from server.errors import MatchpotError
from server.limits import service as limits
from server.state import AppState
from server.wording import amount_text

WITHDRAW_CLEARING = clearing_account("withdrawals")
WITHDRAW_HOLD_TIMEOUT_S = 7 * 24 * 3600
MAX_PENDING_DEPOSITS_PER_USER = 5
MAX_LIST = 200
ALERT_CHANNEL = "whatsapp"

DepositState = Literal["pending", "approved", "rejected"]
WithdrawalState = Literal["pending", "approved", "rejected", "failed"]


class WalletError(MatchpotError):
    """A refused wallet operation; `code` is stable snake_case, `status` the HTTP status."""

    def __init__(self, status: int, code: str, msg: str) -> None:
        super().__init__(code, msg, status)


@dataclass(frozen=True, slots=True)
class DepositRequest:
    id: str
    user_id: str
    amount_minor: int
    currency: str
    reference: str
    state: DepositState
    created_at: datetime
    decided_at: datetime | None
    decided_by: str | None
    reason: str | None
    provider_ref: str | None

    def public(self) -> dict[str, Any]:
        return {
            "id": self.id, "user_id": self.user_id, "amount_minor": self.amount_minor,
            "currency": self.currency, "reference": self.reference, "state": self.state,
            "created_at": self.created_at.isoformat(),
            "decided_at": self.decided_at.isoformat() if self.decided_at else None,
            "decided_by": self.decided_by, "reason": self.reason,
        }


@dataclass(frozen=True, slots=True)
class WithdrawalRequest:
    id: str
    user_id: str
    amount_minor: int
    currency: str
    destination: str | None
    state: WithdrawalState
    hold_id: str
    created_at: datetime
    decided_at: datetime | None
    decided_by: str | None
    reason: str | None
    provider_ref: str | None
    payout_account: str | None = None  # set once a provider payout took the money off hold

    def public(self) -> dict[str, Any]:
        return {
            "id": self.id, "user_id": self.user_id, "amount_minor": self.amount_minor,
            "currency": self.currency, "destination": self.destination, "state": self.state,
            "created_at": self.created_at.isoformat(),
            "decided_at": self.decided_at.isoformat() if self.decided_at else None,
            "decided_by": self.decided_by, "reason": self.reason,
        }


def _opt_str(value: object) -> str | None:
    return str(value) if value is not None else None


def _deposit(row: asyncpg.Record) -> DepositRequest:
    return DepositRequest(
        id=str(row["id"]), user_id=str(row["user_id"]), amount_minor=row["amount_minor"],
        currency=row["currency"], reference=row["reference"], state=row["state"],
        created_at=row["created_at"], decided_at=row["decided_at"],
        decided_by=_opt_str(row["decided_by"]), reason=row["reason"],
        provider_ref=row["provider_ref"],
    )


def _withdrawal(row: asyncpg.Record) -> WithdrawalRequest:
    return WithdrawalRequest(
        id=str(row["id"]), user_id=str(row["user_id"]), amount_minor=row["amount_minor"],
        currency=row["currency"], destination=row["destination"], state=row["state"],
        hold_id=str(row["hold_id"]), created_at=row["created_at"],
        decided_at=row["decided_at"], decided_by=_opt_str(row["decided_by"]),
        reason=row["reason"], provider_ref=row["provider_ref"],
        payout_account=row["payout_account"],
    )


def _uuid(value: str, what: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError as exc:
        raise WalletError(404, f"{what}_not_found", f"No such {what}.") from exc


def _check_amount(state: AppState, amount_minor: int, lo: int, hi: int) -> None:
    if isinstance(amount_minor, bool) or not isinstance(amount_minor, int) or amount_minor <= 0:
        raise WalletError(400, "invalid_request", "Enter an amount above zero.")
    if amount_minor < lo:
        raise WalletError(400, "amount_below_minimum",
                          f"The minimum is {amount_text(state.settings, lo)}.")
    if amount_minor > hi:
        raise WalletError(400, "amount_above_maximum",
                          f"The maximum is {amount_text(state.settings, hi)}.")


def _alert(cause: str, kind: str, user_id: str, payload: dict[str, Any]) -> OutboxMessage:
    return OutboxMessage(
        id=transfer_id(cause, kind), channel=ALERT_CHANNEL, recipient=user_id, kind=kind,
        payload=payload,
    )


# Deposits ------------------------------------------------------------------------------------


async def request_deposit(
    state: AppState, user_id: str, amount_minor: int, reference: str
) -> tuple[DepositRequest, bool]:
    """Record a pending deposit; (request, created). The same reference and amount again
    returns the first request, so a retried call does not ask twice.
    """
    s = state.settings
    _check_amount(state, amount_minor, s.deposit_min_minor, s.deposit_max_minor)
    reference = reference.strip()
    if not 1 <= len(reference) <= 64:
        raise WalletError(400, "invalid_request", "reference must be 1-64 characters.")
    uid = uuid.UUID(user_id)
    async with state.pool.acquire() as conn, conn.transaction():
        await conn.execute("SELECT 1 FROM users WHERE id = $1 FOR UPDATE", uid)
        same = await conn.fetchrow(
            "SELECT * FROM deposit_requests WHERE user_id = $1 AND reference = $2", uid, reference
        )
        if same is not None:
            if same["amount_minor"] != amount_minor:
                raise WalletError(
                    409, "duplicate_reference",
                    "A deposit with this reference and a different amount exists.",
                )
            return _deposit(same), False
        await limits.check_deposit(conn, state, user_id, amount_minor)  # own limits, exclusion
        pending = await conn.fetchval(
            "SELECT count(*) FROM deposit_requests WHERE user_id = $1 AND state = 'pending'", uid
        )
        if pending >= MAX_PENDING_DEPOSITS_PER_USER:
            raise WalletError(
                409, "too_many_pending_deposits",
                f"At most {MAX_PENDING_DEPOSITS_PER_USER} deposits may wait for approval.",
            )
        row = await conn.fetchrow(
            "INSERT INTO deposit_requests (user_id, amount_minor, currency, reference)"
            " VALUES ($1, $2, $3, $4) RETURNING *",
            uid, amount_minor, s.currency, reference,
        )
    assert row is not None
    metrics.WALLET_EVENTS.labels("deposit", "requested").inc()
    return _deposit(row), True


async def _locked_deposit(conn: DbConn, deposit_id: str) -> asyncpg.Record:
    row = await conn.fetchrow(
        "SELECT * FROM deposit_requests WHERE id = $1 FOR UPDATE", _uuid(deposit_id, "deposit")
    )
    if row is None:
        raise WalletError(404, "deposit_not_found", "No such deposit.")
    return row


async def credit_deposit(
    state: AppState, deposit_id: str, *, admin_id: str | None = None,
    provider_ref: str | None = None,
) -> DepositRequest:
    """Approve a pending deposit: world -> user, exactly once (transfer id from the deposit).

    `admin_id` for a manual approval, `provider_ref` (a unique receipt) when a payment
    provider confirmed the money. Already approved: the first result, unchanged.
    """
    async with state.pool.acquire() as conn, conn.transaction():
        row = await _locked_deposit(conn, deposit_id)
        if row["state"] == "approved":
            return _deposit(row)
        if row["state"] != "pending":
            raise WalletError(409, "already_decided", f"This deposit was {row['state']}.")
        dep = _deposit(row)
        tid = transfer_id(dep.id, "deposit")
        request = TransferRequest(
            id=tid, debit=WORLD, credit=user_account(dep.user_id),
            amount_minor=dep.amount_minor, currency=dep.currency, code="deposit",
            ext_ref=provider_ref, meta={"deposit_id": dep.id, "reference": dep.reference},
        )
        alert = _alert(dep.id, "deposit_approved", dep.user_id, {
            "deposit_id": dep.id, "amount_minor": dep.amount_minor, "currency": dep.currency,
            "reference": dep.reference,
        })
        await state.ledger.apply(conn, [request], outbox=[alert])
        updated = await conn.fetchrow(
            "UPDATE deposit_requests SET state = 'approved', decided_at = now(),"
            " decided_by = $2, provider_ref = $3, transfer_id = $4 WHERE id = $1 RETURNING *",
            row["id"], uuid.UUID(admin_id) if admin_id else None, provider_ref, tid,
        )
        await audit(conn, admin_id, "deposit.approve", f"deposit:{dep.id}", {
            "user_id": dep.user_id, "amount_minor": dep.amount_minor,
            "currency": dep.currency, "transfer_id": str(tid), "provider_ref": provider_ref,
        })
    assert updated is not None
    metrics.WALLET_EVENTS.labels("deposit", "approved").inc()
    return _deposit(updated)


async def reject_deposit(
    state: AppState, deposit_id: str, *, admin_id: str | None, reason: str
) -> DepositRequest:
    """Refuse a pending deposit; no money moves. Already rejected: the first result."""
    async with state.pool.acquire() as conn, conn.transaction():
        row = await _locked_deposit(conn, deposit_id)
        if row["state"] == "rejected":
            return _deposit(row)
        if row["state"] != "pending":
            raise WalletError(409, "already_decided", f"This deposit was {row['state']}.")
        dep = _deposit(row)
        alert = _alert(dep.id, "deposit_rejected", dep.user_id, {
            "deposit_id": dep.id, "amount_minor": dep.amount_minor, "currency": dep.currency,
            "reference": dep.reference, "reason": reason,
        })
        await ledger_outbox.enqueue(conn, [alert])
        updated = await conn.fetchrow(
            "UPDATE deposit_requests SET state = 'rejected', decided_at = now(),"
            " decided_by = $2, reason = $3 WHERE id = $1 RETURNING *",
            row["id"], uuid.UUID(admin_id) if admin_id else None, reason,
        )
        await audit(conn, admin_id, "deposit.reject", f"deposit:{dep.id}", {
            "user_id": dep.user_id, "amount_minor": dep.amount_minor, "reason": reason,
        })
    assert updated is not None
    metrics.WALLET_EVENTS.labels("deposit", "rejected").inc()
    return _deposit(updated)


async def get_deposit(state: AppState, deposit_id: str) -> DepositRequest | None:
    row = await state.pool.fetchrow(
        "SELECT * FROM deposit_requests WHERE id = $1", _uuid(deposit_id, "deposit")
    )
    return _deposit(row) if row is not None else None


async def list_deposits(
    state: AppState, *, user_id: str | None = None, status: str | None = None,
    limit: int = 50, older_than: datetime | None = None, max_amount_minor: int | None = None,
) -> list[DepositRequest]:
    """Newest first (oldest first for state=pending, the order to work through them)."""
    assert 0 < limit <= MAX_LIST
    order = "ASC" if status == "pending" else "DESC"
    rows = await state.pool.fetch(
        "SELECT * FROM deposit_requests WHERE ($1::uuid IS NULL OR user_id = $1)"
        " AND ($2::text IS NULL OR state = $2)"
        " AND ($3::timestamptz IS NULL OR created_at <= $3)"
        " AND ($5::bigint IS NULL OR amount_minor <= $5)"
        f" ORDER BY created_at {order}, id LIMIT $4",
        uuid.UUID(user_id) if user_id else None, status, older_than, limit, max_amount_minor,
    )
    return [_deposit(r) for r in rows]


# Withdrawals ---------------------------------------------------------------------------------


async def request_withdrawal(
    state: AppState, user_id: str, amount_minor: int, destination: str | None,
    client_ref: str | None = None,
) -> WithdrawalRequest:
    """Record a withdrawal and hold its amount at once, so it cannot also be staked.

    Not enough available, or over the daily limit: an error and nothing recorded.
    """
    request, _created = await request_withdrawal_once(
        state, user_id, amount_minor, destination, client_ref
    )
    return request


async def request_withdrawal_once(
    state: AppState, user_id: str, amount_minor: int, destination: str | None,
    client_ref: str | None,
) -> tuple[WithdrawalRequest, bool]:
    """Like request_withdrawal; with `client_ref`, a retry returns the first request.

    A double click or a redelivered message must not hold the amount twice. The
    same key with a different amount or destination is an `idempotency_conflict`.
    Returns (request, created now).
    """
    s = state.settings
    _check_amount(state, amount_minor, s.withdraw_min_minor, s.withdraw_max_minor)
    if destination is not None and not 1 <= len(destination) <= 64:
        raise WalletError(400, "invalid_request", "destination must be 1-64 characters.")
    if client_ref is not None and not 1 <= len(client_ref) <= 80:
        raise WalletError(400, "invalid_request", "The idempotency key must be 1-80 characters.")
    uid = uuid.UUID(user_id)
    wid = uuid.uuid4()
    hold_id = transfer_id(wid, "hold")
    loop = asyncio.get_running_loop()
    deadline = loop.time() + s.db_command_timeout_s  # the client has given up by then
    async with state.pool.acquire() as conn, conn.transaction():
        # One withdrawal request per player at a time, so the daily sum cannot race.
        await conn.execute("SELECT 1 FROM users WHERE id = $1 FOR UPDATE", uid)
        if client_ref is not None:
            first = await conn.fetchrow(
                "SELECT * FROM withdrawal_requests WHERE user_id = $1 AND client_ref = $2",
                uid, client_ref,
            )
            if first is not None:
                if (first["amount_minor"], first["destination"]) != (amount_minor, destination):
                    raise WalletError(
                        409, "idempotency_conflict",
                        "This idempotency key was used for a different withdrawal.",
                    )
                return _withdrawal(first), False
        today_minor = await conn.fetchval(
            "SELECT coalesce(sum(amount_minor), 0) FROM withdrawal_requests WHERE user_id = $1"
            " AND state IN ('pending', 'approved') AND created_at > now() - interval '24 hours'",
            uid,
        )
        if today_minor + amount_minor > s.withdraw_daily_max_minor:
            left = max(s.withdraw_daily_max_minor - today_minor, 0)
            raise WalletError(
                409, "daily_limit_exceeded",
                f"Withdrawals are limited to {amount_text(s, s.withdraw_daily_max_minor)} per"
                f" 24 hours; {amount_text(s, left)} left.",
            )
        hold = TransferRequest(
            id=hold_id, debit=user_account(user_id), credit=WITHDRAW_CLEARING,
            amount_minor=amount_minor, currency=s.currency, kind=TransferKind.PENDING,
            timeout_s=WITHDRAW_HOLD_TIMEOUT_S, code="withdrawal_hold",
            meta={"withdrawal_id": str(wid)},
        )
        await state.ledger.apply(conn, [hold])  # InsufficientFunds rolls everything back
        row = await conn.fetchrow(
            "INSERT INTO withdrawal_requests"
            " (id, user_id, amount_minor, currency, destination, hold_id, client_ref)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING *",
            wid, uid, amount_minor, s.currency, destination, hold_id, client_ref,
        )
        if loop.time() > deadline:
            # A database that stalled mid-request (frozen, failing over) answered only after
            # the client gave up: roll back rather than create a request nobody awaits.
            raise WalletError(503, "service_unavailable",
                              "The wallet is busy; please try again in a moment.")
    assert row is not None
    metrics.WALLET_EVENTS.labels("withdrawal", "requested").inc()
    return _withdrawal(row), True


async def _locked_withdrawal(conn: DbConn, withdrawal_id: str) -> asyncpg.Record:
    row = await conn.fetchrow(
        "SELECT * FROM withdrawal_requests WHERE id = $1 FOR UPDATE",
        _uuid(withdrawal_id, "withdrawal"),
    )
    if row is None:
        raise WalletError(404, "withdrawal_not_found", "No such withdrawal.")
    return row


async def _mark_withdrawal(
    state: AppState, withdrawal_id: str, new_state: WithdrawalState, admin_id: str | None,
    reason: str,
) -> None:
    """Close a withdrawal whose hold the sweeper already released (no money moves)."""
    async with state.pool.acquire() as conn, conn.transaction():
        row = await _locked_withdrawal(conn, withdrawal_id)
        if row["state"] != "pending":
            return
        await conn.execute(
            "UPDATE withdrawal_requests SET state = $2, decided_at = now(), decided_by = $3,"
            " reason = $4 WHERE id = $1",
            row["id"], new_state, uuid.UUID(admin_id) if admin_id else None, reason,
        )
        await audit(conn, admin_id, f"withdrawal.{new_state}", f"withdrawal:{row['id']}",
                    {"reason": reason})


async def start_payout(
    state: AppState, conn: DbConn, withdrawal_id: str, clearing: str
) -> WithdrawalRequest:
    """Take a pending withdrawal off hold before a provider is asked to pay it.

    A hold expires after WITHDRAW_HOLD_TIMEOUT_S and the sweeper then gives the amount
    back; if a payout were in flight at that moment, the player would have the cash and
    the balance. So, inside the caller's transaction (which also records the payout),
    the hold is posted and the amount moves to `clearing` (e.g. clearing:mpesa), where
    nothing expires: only the provider's confirmed result moves it on
    (`complete_withdrawal`). Calling it again is a replay and changes nothing.

    Raises WalletError `already_decided`, or `withdrawal_expired` when the hold is gone
    (then nothing was written; call `close_expired_withdrawal` outside this transaction).
    """
    assert clearing.startswith("clearing:") and clearing != WITHDRAW_CLEARING
    row = await _locked_withdrawal(conn, withdrawal_id)
    if row["state"] != "pending":
        raise WalletError(409, "already_decided", f"This withdrawal was {row['state']}.")
    if row["payout_account"] is not None:
        if row["payout_account"] != clearing:
            raise WalletError(409, "payout_in_flight",
                              "This withdrawal is being paid by another provider.")
        return _withdrawal(row)
    w = _withdrawal(row)
    common = {"withdrawal_id": w.id, "clearing": clearing}
    moves = [
        TransferRequest(
            id=transfer_id(w.id, "post"), debit=user_account(w.user_id), credit=WITHDRAW_CLEARING,
            amount_minor=w.amount_minor, currency=w.currency, kind=TransferKind.POST,
            pending_id=uuid.UUID(w.hold_id), code="withdrawal", meta=common,
        ),
        TransferRequest(
            id=transfer_id(w.id, "payout_sent"), debit=WITHDRAW_CLEARING, credit=clearing,
            amount_minor=w.amount_minor, currency=w.currency, code="withdrawal_payout_sent",
            meta=common,
        ),
    ]
    try:
        async with conn.transaction():  # savepoint: a gone hold leaves the caller's txn usable
            await state.ledger.apply(conn, moves)
    except (HoldAlreadyResolved, HoldExpired, HoldNotFound) as exc:
        raise WalletError(409, "withdrawal_expired",
                          "This withdrawal's hold expired; the amount was released.") from exc
    updated = await conn.fetchrow(
        "UPDATE withdrawal_requests SET payout_account = $2 WHERE id = $1 RETURNING *",
        row["id"], clearing,
    )
    assert updated is not None
    return _withdrawal(updated)


async def close_expired_withdrawal(state: AppState, withdrawal_id: str) -> None:
    """Mark a pending withdrawal whose hold expired as failed (no money moves: the sweeper
    gives, or gave, the amount back)."""
    await _mark_withdrawal(state, withdrawal_id, "failed", None, "hold expired")


async def complete_withdrawal(
    state: AppState, withdrawal_id: str, *, paid: bool, provider_ref: str | None,
    admin_id: str | None = None, reason: str | None = None,
) -> WithdrawalRequest:
    """Finish a pending withdrawal exactly once.

    While the amount is a hold: paid=True posts the hold and the money leaves
    (clearing -> world) in one batch; paid=False voids the hold.
    Once a provider payout took it off hold (`payout_account`, see `start_payout`):
    paid=True moves it clearing -> world; paid=False reverses it clearing -> player
    (transfer id from the withdrawal, so a replayed failure returns it once). An admin
    cannot reject such a withdrawal: the money is with the provider, whose result decides.
    Not paid, the request becomes `rejected` when an admin decided, `failed` when a
    provider reported a failed payment. Deciding again the same way returns the first result.
    """
    target: WithdrawalState = "approved" if paid else ("rejected" if admin_id else "failed")
    try:
        async with state.pool.acquire() as conn, conn.transaction():
            row = await _locked_withdrawal(conn, withdrawal_id)
            if row["state"] == target or (not paid and row["state"] in ("rejected", "failed")):
                return _withdrawal(row)
            if row["state"] != "pending":
                raise WalletError(409, "already_decided", f"This withdrawal was {row['state']}.")
            w = _withdrawal(row)
            owner = user_account(w.user_id)
            wid = w.id
            common = {"withdrawal_id": wid}
            clearing = w.payout_account
            if clearing is not None and not paid and admin_id is not None:
                raise WalletError(
                    409, "payout_in_flight",
                    "This withdrawal is being paid out; the provider's result decides it.",
                )
            if clearing is not None and paid:
                moves = [
                    TransferRequest(
                        id=transfer_id(wid, "payout"), debit=clearing, credit=WORLD,
                        amount_minor=w.amount_minor, currency=w.currency, ext_ref=provider_ref,
                        code="withdrawal_out", meta=common,
                    ),
                ]
            elif clearing is not None:
                moves = [
                    TransferRequest(
                        id=transfer_id(wid, "reversal"), debit=clearing, credit=owner,
                        amount_minor=w.amount_minor, currency=w.currency,
                        code="withdrawal_reversal", meta=common,
                    ),
                ]
            elif paid:
                moves = [
                    TransferRequest(
                        id=transfer_id(wid, "post"), debit=owner, credit=WITHDRAW_CLEARING,
                        amount_minor=w.amount_minor, currency=w.currency, kind=TransferKind.POST,
                        pending_id=uuid.UUID(w.hold_id), code="withdrawal", meta=common,
                    ),
                    TransferRequest(
                        id=transfer_id(wid, "payout"), debit=WITHDRAW_CLEARING, credit=WORLD,
                        amount_minor=w.amount_minor, currency=w.currency, ext_ref=provider_ref,
                        code="withdrawal_out", meta=common,
                    ),
                ]
            else:
                moves = [
                    TransferRequest(
                        id=transfer_id(wid, "void"), debit=owner, credit=WITHDRAW_CLEARING,
                        amount_minor=w.amount_minor, currency=w.currency, kind=TransferKind.VOID,
                        pending_id=uuid.UUID(w.hold_id), code="withdrawal_void", meta=common,
                    )
                ]
            kind = "withdrawal_approved" if paid else "withdrawal_rejected"
            alert = _alert(wid, kind, w.user_id, {
                "withdrawal_id": wid, "amount_minor": w.amount_minor, "currency": w.currency,
                "reason": reason,
            })
            await state.ledger.apply(conn, moves, outbox=[alert])
            updated = await conn.fetchrow(
                "UPDATE withdrawal_requests SET state = $2, decided_at = now(), decided_by = $3,"
                " reason = $4, provider_ref = $5 WHERE id = $1 RETURNING *",
                row["id"], target, uuid.UUID(admin_id) if admin_id else None, reason,
                provider_ref,
            )
            await audit(conn, admin_id, f"withdrawal.{target}", f"withdrawal:{wid}", {
                "user_id": w.user_id, "amount_minor": w.amount_minor, "currency": w.currency,
                "provider_ref": provider_ref, "reason": reason,
            })
    except (HoldAlreadyResolved, HoldExpired, HoldNotFound) as exc:
        # The hold expired and was swept: the amount is already back with the player.
        await _mark_withdrawal(
            state, withdrawal_id, "failed" if paid else target, admin_id, "hold expired"
        )
        if paid:
            raise WalletError(
                409, "withdrawal_expired",
                "This withdrawal's hold expired; the amount was released.",
            ) from exc
        released = await get_withdrawal(state, withdrawal_id)
        assert released is not None
        return released
    assert updated is not None
    metrics.WALLET_EVENTS.labels("withdrawal", target).inc()
    return _withdrawal(updated)


async def get_withdrawal(state: AppState, withdrawal_id: str) -> WithdrawalRequest | None:
    row = await state.pool.fetchrow(
        "SELECT * FROM withdrawal_requests WHERE id = $1", _uuid(withdrawal_id, "withdrawal")
    )
    return _withdrawal(row) if row is not None else None


async def list_withdrawals(
    state: AppState, *, user_id: str | None = None, status: str | None = None, limit: int = 50,
) -> list[WithdrawalRequest]:
    """Newest first (oldest first for state=pending, the order to work through them)."""
    assert 0 < limit <= MAX_LIST
    order = "ASC" if status == "pending" else "DESC"
    rows = await state.pool.fetch(
        "SELECT * FROM withdrawal_requests WHERE ($1::uuid IS NULL OR user_id = $1)"
        " AND ($2::text IS NULL OR state = $2)"
        f" ORDER BY created_at {order}, id LIMIT $3",
        uuid.UUID(user_id) if user_id else None, status, limit,
    )
    return [_withdrawal(r) for r in rows]
