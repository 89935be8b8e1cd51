"""Withdrawals paid by M-Pesa B2C: send once, finish once from the result callback.

The mpesa_b2c row is written before the request goes out, so a crash or an
ambiguous timeout never leads to a blind second payment. In the same transaction
the withdrawal's hold is posted and the amount moves to clearing:mpesa
(`wallets.start_payout`): a payout in flight has no expiry, so the hold sweeper
can never give the amount back while M-Pesa may still pay it. The result callback
(or reconciliation's Transaction Status query) finishes the withdrawal through the
wallets service, exactly once: clearing -> world when paid, clearing -> player
when M-Pesa confirms a failure. A queue-timeout notice is recorded, not a failure.
"""

from __future__ import annotations

import uuid
from typing import Any

import structlog

from ledger import transfer_id
from server import metrics
from server.money.payments import mpesa
from server.money.payments.daraja import DarajaError
from server.money.payments.service import MPESA_CLEARING, PaymentError, daraja
from server.state import AppState

log = structlog.get_logger(__name__)

REFUSED_CODE = -1  # result_code recorded when Daraja refused the request synchronously
STATUS_FAILED_CODE = -2  # result_code recorded when a Transaction Status query said "failed"


def b2c_enabled(state: AppState) -> bool:
    s = state.settings
    return s.payments_provider == "mpesa" and s.payouts_enabled


async def approve_withdrawal(
    state: AppState, withdrawal_id: str, *, admin_id: str
) -> dict[str, Any]:
    """An admin approved a pending withdrawal: pay it by B2C when enabled, else mark it paid.

    With B2C the withdrawal stays pending until Daraja's result arrives.
    """
    from server.money.wallets.service import (
        WalletError,
        close_expired_withdrawal,
        complete_withdrawal,
        get_withdrawal,
        start_payout,
    )

    try:
        w = await get_withdrawal(state, withdrawal_id)
    except WalletError as exc:
        raise PaymentError(exc.code, exc.msg, exc.status) from exc
    if w is None:
        raise PaymentError("withdrawal_not_found", "No such withdrawal.", 404)
    if not b2c_enabled(state):
        try:
            done = await complete_withdrawal(state, withdrawal_id, paid=True, provider_ref=None,
                                             admin_id=admin_id)
        except WalletError as exc:
            raise PaymentError(exc.code, exc.msg, exc.status) from exc
        return {"withdrawal": done.public(), "payout": "manual"}
    if w.state != "pending":
        raise PaymentError("already_decided", f"This withdrawal was {w.state}.", 409)
    wid = uuid.UUID(w.id)
    phone = await state.pool.fetchval("SELECT phone_e164 FROM users WHERE id = $1::uuid",
                                      w.user_id)
    assert phone is not None
    try:
        mpesa.whole_kes(w.amount_minor)
        mpesa.msisdn(phone)
    except mpesa.MpesaFormatError as exc:
        raise PaymentError(exc.code, exc.msg) from exc
    originator = str(transfer_id(wid, "b2c"))
    try:
        async with state.pool.acquire() as conn, conn.transaction():
            inserted = await conn.fetchval(
                "INSERT INTO mpesa_b2c (withdrawal_id, originator_conversation_id, user_id,"
                " phone_e164, amount_minor) VALUES ($1, $2, $3::uuid, $4, $5)"
                " ON CONFLICT DO NOTHING RETURNING 1",
                wid, originator, w.user_id, phone, w.amount_minor,
            )
            if inserted is not None:  # off hold, into clearing:mpesa, before anything is sent
                await start_payout(state, conn, w.id, MPESA_CLEARING)
    except WalletError as exc:
        if exc.code == "withdrawal_expired":
            await close_expired_withdrawal(state, w.id)
        raise PaymentError(exc.code, exc.msg, exc.status) from exc
    if inserted is None:  # already sent (or being sent): never pay twice
        row = await state.pool.fetchrow("SELECT state FROM mpesa_b2c WHERE withdrawal_id = $1",
                                        wid)
        assert row is not None
        return {"withdrawal": w.public(), "payout": "mpesa", "b2c_state": row["state"]}
    try:
        data = await daraja(state).b2c_payment(originator, phone, w.amount_minor,
                                               remarks="Matchpot withdrawal")
    except DarajaError as exc:
        metrics.MPESA_REQUESTS.labels("b2c", exc.code).inc()
        if exc.code == "provider_timeout":  # ambiguous: keep the row, do not resend blindly
            raise PaymentError("payout_unconfirmed", "M-Pesa did not confirm the payout request;"
                               " it will be reconciled before any retry.", 502) from exc
        # Refused before anything was paid: a confirmed failure. The amount goes back to
        # the player (clearing -> player, once) and the withdrawal is failed.
        await apply_b2c_result(state, mpesa.B2cResult(
            originator_conversation_id=originator, conversation_id=None,
            result_code=REFUSED_CODE, result_desc=f"refused: {exc.msg}"[:200], receipt=None,
            amount_kes=None))
        raise PaymentError(exc.code, f"M-Pesa refused the payout: {exc.msg}", 502) from exc
    metrics.MPESA_REQUESTS.labels("b2c", "ok").inc()
    await state.pool.execute(
        "UPDATE mpesa_b2c SET state = 'pending', conversation_id = $2, updated_at = now()"
        " WHERE withdrawal_id = $1 AND state = 'sending'", wid, data.get("ConversationID"))
    return {"withdrawal": w.public(), "payout": "mpesa", "b2c_state": "pending"}


async def apply_b2c_result(state: AppState, result: mpesa.B2cResult) -> str:
    """Finish the withdrawal once: 'paid', 'failed', 'ignored' or 'unknown'."""
    from server.money.wallets.service import WalletError, complete_withdrawal

    async with state.pool.acquire() as conn, conn.transaction():
        row = await conn.fetchrow(
            "SELECT * FROM mpesa_b2c WHERE originator_conversation_id = $1 FOR UPDATE",
            result.originator_conversation_id)
        if row is None:
            return "unknown"
        if row["state"] in ("paid", "failed"):
            return "ignored"
        paid = result.result_code == 0
        wid = str(row["withdrawal_id"])
        try:
            done = await complete_withdrawal(
                state, wid, paid=paid, provider_ref=result.receipt if paid else None,
                reason=None if paid else f"M-Pesa: {result.result_desc}",
            )
            final = "paid" if done.state == "approved" else "failed"
        except WalletError as exc:  # decided elsewhere (e.g. the hold expired): follow it
            log.error("b2c_result_after_decision", withdrawal=wid, code=exc.code,
                      paid_by_mpesa=paid, receipt=result.receipt)
            final = "failed"
        await conn.execute(
            "UPDATE mpesa_b2c SET state = $2, result_code = $3, result_desc = $4, receipt = $5,"
            " conversation_id = coalesce(conversation_id, $6), updated_at = now()"
            " WHERE withdrawal_id = $1", row["withdrawal_id"], final, result.result_code,
            result.result_desc, result.receipt if final == "paid" else None,
            result.conversation_id)
        return final


async def record_b2c_timeout(state: AppState, result: mpesa.B2cResult) -> str:
    """Daraja's queue timed out: not a failure. Note it and leave the payout pending."""
    status = await state.pool.execute(
        "UPDATE mpesa_b2c SET timed_out_at = now(), updated_at = now()"
        " WHERE originator_conversation_id = $1 AND state IN ('sending', 'pending')",
        result.originator_conversation_id)
    return "recorded" if status.endswith(" 1") else "ignored"


async def apply_b2c_status(state: AppState, status: mpesa.B2cStatus) -> str:
    """A Transaction Status result (asked for by reconciliation): settle the payout it
    names when M-Pesa knows its outcome ('paid'/'failed'), else 'still_pending'."""
    settled = status.settled()
    if status.payout_originator_id is None:
        return "unknown"
    if settled is None:
        return "still_pending"
    return await apply_b2c_result(state, mpesa.B2cResult(
        originator_conversation_id=status.payout_originator_id, conversation_id=None,
        result_code=0 if settled else STATUS_FAILED_CODE,
        result_desc=f"status: {status.status}; {status.result_desc}"[:200],
        receipt=status.receipt if settled else None, amount_kes=None))
