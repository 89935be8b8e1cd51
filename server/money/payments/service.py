"""Deposits and withdrawals through the configured provider (PAYMENTS_PROVIDER).

manual: a deposit request that an admin approves (server/money/wallets/service.py).
mpesa:  an STK Push to the player's phone; the callback (or the reconciliation
        job's STK Query) credits the wallet exactly once per CheckoutRequestID and
        receipt; approved withdrawals are paid by B2C and finished by its result.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import asyncpg
import structlog

from ledger import (
    OutboxMessage,
    TransferRequest,
    clearing_account,
    outbox,
    transfer_id,
    user_account,
)
from ledger.errors import IdempotencyConflict
from server import metrics
from server.errors import MatchpotError
from server.money.payments import mpesa
from server.money.payments.daraja import DarajaClient, DarajaError
from server.state import AppState, Slot
from server.wording import amount_text, units_text

log = structlog.get_logger(__name__)

MPESA_CLEARING = clearing_account("mpesa")
ALERT_CHANNEL = "whatsapp"
MAX_PENDING_STK_PER_USER = 3
MAX_IDEM_KEY_CHARS = 200
CALLBACK_LOG_KEEP = 100_000  # rows of raw callbacks kept; older ones are pruned


class PaymentError(MatchpotError):
    """A payment could not be started; nothing changed. `code` is stable snake_case."""


@dataclass(frozen=True, slots=True)
class DepositStart:
    """What the player is told after asking to deposit, plus the request's ids."""

    text: str
    provider: str
    request_id: str
    amount_minor: int
    state: str
    checkout_request_id: str | None = None

    def public(self) -> dict[str, Any]:
        return {"text": self.text, "provider": self.provider, "request_id": self.request_id,
                "amount_minor": self.amount_minor, "state": self.state,
                "checkout_request_id": self.checkout_request_id}


DARAJA: Slot[DarajaClient] = Slot("daraja", DarajaClient)


def daraja(state: AppState) -> DarajaClient:
    """The process's Daraja client, created on first use."""
    return state.find(DARAJA) or state.provide(DARAJA, DarajaClient(state.settings))



def _alert(cause: str, kind: str, user_id: str, payload: dict[str, Any]) -> OutboxMessage:
    return OutboxMessage(transfer_id(cause, kind), ALERT_CHANNEL, user_id, kind, payload)


async def start_deposit(
    state: AppState, user_id: str, amount_minor: int, *, channel: str,
    idem_key: str | None = None,
) -> DepositStart:
    """Begin a deposit the way the operator configured: manual request or M-Pesa STK Push.

    `idem_key` (a WhatsApp message's wamid) makes a repeated call for the same cause
    create one request: the manual request's reference and the STK intent derive from it.
    """
    s = state.settings
    if type(amount_minor) is not int or amount_minor <= 0:
        raise PaymentError("invalid_amount", "The amount must be a positive whole number.")
    if not s.deposit_min_minor <= amount_minor <= s.deposit_max_minor:
        raise PaymentError("amount_out_of_range",
                           f"Deposits are {amount_text(s, s.deposit_min_minor)} to"
                           f" {amount_text(s, s.deposit_max_minor)}.")
    if idem_key is not None and not 1 <= len(idem_key) <= MAX_IDEM_KEY_CHARS:
        raise PaymentError("invalid_request", "The idempotency key is too long.")
    if s.payments_provider == "mpesa":
        return await _start_stk(state, user_id, amount_minor, idem_key)
    from server.money.wallets.service import WalletError, request_deposit

    suffix = uuid.uuid4().hex[:16] if idem_key is None else \
        transfer_id("deposit", idem_key).hex[:16]
    reference = f"{channel[:8]}-{suffix}"
    try:
        dep, _created = await request_deposit(state, user_id, amount_minor, reference)
    except WalletError as exc:
        raise PaymentError(exc.code, exc.msg, exc.status) from exc
    text = (f"Your deposit request for {amount_text(s, amount_minor)} is recorded (reference"
            f" {dep.reference}). You will get a message once it is approved.")
    return DepositStart(text, "manual", dep.id, amount_minor, dep.state)


def _stk_text(state: AppState, amount_minor: int) -> str:
    s = state.settings
    return (f"Check your phone: approve the M-Pesa request for {s.currency}"
            f" {units_text(amount_minor)} to add {amount_text(s, amount_minor)} to your wallet.")


async def _claim_intent(
    state: AppState, uid: uuid.UUID, amount_minor: int, idem_key: str
) -> DepositStart | None:
    """Record the intent before the push; None if this key is new, else the first outcome.

    An intent without a checkout id is a push in flight or one whose outcome a crash
    lost: it is never sent again blindly (reconciliation and the callback settle it).
    """
    inserted = await state.pool.fetchval(
        "INSERT INTO mpesa_deposit_intents (idem_key, user_id, amount_minor)"
        " VALUES ($1, $2, $3) ON CONFLICT (idem_key) DO NOTHING RETURNING true",
        idem_key, uid, amount_minor)
    if inserted:
        return None
    row = await state.pool.fetchrow(
        "SELECT i.user_id, i.amount_minor, i.checkout_request_id, r.id AS request_id, r.state"
        " FROM mpesa_deposit_intents i LEFT JOIN mpesa_requests r"
        " ON r.checkout_request_id = i.checkout_request_id WHERE i.idem_key = $1", idem_key)
    assert row is not None
    if row["user_id"] != uid or row["amount_minor"] != amount_minor:
        raise PaymentError("idempotency_conflict",
                           "This request was already used for a different deposit.", 409)
    if row["request_id"] is None:
        return DepositStart(
            "Your M-Pesa request is on its way; check your phone.", "mpesa", "", amount_minor,
            "pending")
    return DepositStart(_stk_text(state, amount_minor), "mpesa", str(row["request_id"]),
                        amount_minor, str(row["state"]), row["checkout_request_id"])


async def _start_stk(
    state: AppState, user_id: str, amount_minor: int, idem_key: str | None = None
) -> DepositStart:
    uid = uuid.UUID(user_id)
    phone = await state.pool.fetchval("SELECT phone_e164 FROM users WHERE id = $1", uid)
    if phone is None:
        raise PaymentError("user_not_found", "Unknown player.", 404)
    try:
        mpesa.whole_kes(amount_minor)
        mpesa.msisdn(phone)
    except mpesa.MpesaFormatError as exc:
        raise PaymentError(exc.code, exc.msg) from exc
    if idem_key is not None:
        first = await _claim_intent(state, uid, amount_minor, idem_key)
        if first is not None:
            return first
    try:
        return await _push_stk(state, uid, phone, amount_minor, idem_key)
    except PaymentError as exc:
        if idem_key is not None and exc.code != "provider_timeout":  # refused: nothing sent
            await state.pool.execute(
                "DELETE FROM mpesa_deposit_intents WHERE idem_key = $1"
                " AND checkout_request_id IS NULL", idem_key)
        raise


async def _push_stk(
    state: AppState, uid: uuid.UUID, phone: str, amount_minor: int, idem_key: str | None
) -> DepositStart:
    s = state.settings
    pending = await state.pool.fetchval(
        "SELECT count(*) FROM mpesa_requests WHERE user_id = $1 AND state = 'pending'", uid)
    if pending >= MAX_PENDING_STK_PER_USER:
        raise PaymentError("too_many_pending_deposits",
                           "Finish the M-Pesa requests already on your phone first.", 409)
    try:
        data = await daraja(state).stk_push(phone, amount_minor, account_ref="Matchpot",
                                            description="Deposit")
    except DarajaError as exc:
        metrics.MPESA_REQUESTS.labels("stk_push", exc.code).inc()
        raise PaymentError(exc.code, "M-Pesa is not available right now; try again later.",
                           502) from exc
    metrics.MPESA_REQUESTS.labels("stk_push", "ok").inc()
    checkout = str(data["CheckoutRequestID"])
    async with state.pool.acquire() as conn, conn.transaction():
        row = await conn.fetchrow(
            "INSERT INTO mpesa_requests (checkout_request_id, merchant_request_id, user_id,"
            " phone_e164, amount_minor, currency) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
            checkout, str(data.get("MerchantRequestID", "")), uid, phone, amount_minor,
            s.currency,
        )
        if idem_key is not None:
            await conn.execute(
                "UPDATE mpesa_deposit_intents SET checkout_request_id = $2 WHERE idem_key = $1",
                idem_key, checkout)
    assert row is not None
    await _apply_early_callback(state, checkout)
    return DepositStart(_stk_text(state, amount_minor), "mpesa", str(row["id"]), amount_minor,
                        "pending", checkout)


async def _apply_early_callback(state: AppState, checkout: str) -> None:
    """A callback may beat our own insert of the request row; apply it now if it did."""
    bodies = await state.pool.fetch(
        "SELECT body FROM mpesa_callbacks WHERE kind = 'stk' AND ref = $1 ORDER BY id LIMIT 5",
        checkout)
    for b in bodies:
        await apply_stk_result(state, mpesa.parse_stk_callback(b["body"]))


async def record_callback(state: AppState, kind: str, ref: str | None, body: Any) -> None:
    """Keep the raw callback (for audits, early callbacks and timeouts); bounded in rows."""
    new_id = await state.pool.fetchval(
        "INSERT INTO mpesa_callbacks (kind, ref, body) VALUES ($1, $2, $3) RETURNING id",
        kind, ref, body)
    if new_id % 1000 == 0:
        await state.pool.execute("DELETE FROM mpesa_callbacks WHERE id <= $1",
                                 new_id - CALLBACK_LOG_KEEP)


async def apply_stk_result(
    state: AppState, result: mpesa.StkResult, *, from_query: bool = False
) -> str:
    """Settle one STK request: returns 'paid', 'failed', 'ignored' or 'unknown'.

    Only a pending request changes, and only once: duplicates, late or out-of-order
    results and a receipt already used by another request change nothing more (a late
    receipt is only recorded).
    A callback credits only with a receipt; an STK Query never carries one, so a
    query's confirmed success (ResultCode 0) credits without it. Credit, row update
    and the player's alert commit together.
    """
    s = state.settings
    async with state.pool.acquire() as conn, conn.transaction():
        row = await conn.fetchrow(
            "SELECT * FROM mpesa_requests WHERE checkout_request_id = $1 FOR UPDATE",
            result.checkout_request_id)
        if row is None:
            return "unknown"
        if row["state"] != "pending":
            if row["state"] == "paid" and row["receipt"] is None and result.receipt and \
                    result.result_code == 0:
                await conn.execute("UPDATE mpesa_requests SET receipt = $2 WHERE id = $1"
                                   " AND NOT EXISTS (SELECT 1 FROM mpesa_requests WHERE"
                                   " receipt = $2)", row["id"], result.receipt)
            return "ignored"
        user_id = str(row["user_id"])
        if result.result_code == 0 and (result.receipt or from_query):
            amount_minor = row["amount_minor"]
            if result.amount_kes is not None and result.amount_kes * 100 != amount_minor:
                log.warning("mpesa_amount_differs", checkout=result.checkout_request_id,
                            asked=amount_minor, paid=result.amount_kes * 100)
                amount_minor = result.amount_kes * 100  # credit what was actually paid
            tid = transfer_id("mpesa", result.checkout_request_id)
            ref = f" (M-Pesa {result.receipt})" if result.receipt else ""
            alert = _alert(result.checkout_request_id, "deposit_approved", user_id, {
                "amount_minor": amount_minor, "currency": row["currency"],
                "receipt": result.receipt, "provider": "mpesa",
                "text": f"Your deposit of {amount_text(s, amount_minor)} arrived{ref}.",
            })
            try:
                async with conn.transaction():  # savepoint: a reused receipt must not abort all
                    await state.ledger.apply(conn, [TransferRequest(
                        tid, MPESA_CLEARING, user_account(user_id), amount_minor, row["currency"],
                        ext_ref=result.receipt, code="deposit",
                        meta={"provider": "mpesa", "checkout": result.checkout_request_id},
                    )], outbox=[alert])
                    await conn.execute(
                        "UPDATE mpesa_requests SET state = 'paid', result_code = 0,"
                        " result_desc = $2, receipt = $3, transfer_id = $4, updated_at = now()"
                        " WHERE id = $1", row["id"], result.result_desc, result.receipt, tid)
            except (IdempotencyConflict, asyncpg.UniqueViolationError):
                # A receipt already credited to another request proves nothing about this
                # one (a replayed or forged body): ignore it and leave the request pending,
                # so its own genuine callback (or reconciliation) still settles it.
                log.error("mpesa_receipt_reused", checkout=result.checkout_request_id,
                          receipt=result.receipt)
                metrics.MPESA_DEPOSITS.labels("receipt_reused").inc()
                return "ignored"
            metrics.MPESA_DEPOSITS.labels("paid").inc()
            return "paid"
        code = result.result_code if result.result_code != 0 else -1  # 0 without a receipt
        text = mpesa.failure_text(code, result.result_desc)
        alert = _alert(result.checkout_request_id, "deposit_failed", user_id, {
            "amount_minor": row["amount_minor"], "currency": row["currency"],
            "result_code": result.result_code, "provider": "mpesa", "text": text,
        })
        await outbox.enqueue(conn, [alert])
        await conn.execute(
            "UPDATE mpesa_requests SET state = 'failed', result_code = $2, result_desc = $3,"
            " updated_at = now() WHERE id = $1", row["id"], result.result_code,
            result.result_desc)
        metrics.MPESA_DEPOSITS.labels("failed").inc()
        return "failed"


