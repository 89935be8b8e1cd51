"""Reconciliation: ask Daraja about payments whose callback never came.

Deposits: STK Query answers synchronously and is applied at once. Payouts: a B2C in
flight longer than the bound is asked about with Transaction Status, whose answer
arrives on the b2c/status callback and settles it there. A payout in flight holds its
money in clearing:mpesa, which never expires, so waiting is always safe; what is
never settled after MAX_QUERY_ATTEMPTS is logged for an operator.
"""

from __future__ import annotations

import asyncio

import structlog

from server import metrics
from server.money.payments import mpesa
from server.money.payments.daraja import DarajaError
from server.money.payments.service import MPESA_CLEARING, apply_stk_result, daraja
from server.state import AppState

log = structlog.get_logger(__name__)

BATCH = 50  # requests queried per pass
MAX_QUERY_ATTEMPTS = 20  # then the request waits for an operator


async def reconcile_once(state: AppState) -> dict[str, int]:
    """One bounded pass over requests pending longer than mpesa_reconcile_after_s."""
    rows = await state.pool.fetch(
        "SELECT checkout_request_id FROM mpesa_requests WHERE state = 'pending'"
        " AND created_at < now() - make_interval(secs => $1) AND query_attempts < $2"
        " ORDER BY created_at LIMIT $3",
        float(state.settings.mpesa_reconcile_after_s), MAX_QUERY_ATTEMPTS, BATCH,
    )
    counts = {"queried": 0, "paid": 0, "failed": 0, "still_pending": 0}
    for r in rows:
        checkout = r["checkout_request_id"]
        await state.pool.execute(
            "UPDATE mpesa_requests SET query_attempts = query_attempts + 1 WHERE"
            " checkout_request_id = $1", checkout)
        counts["queried"] += 1
        try:
            data = await daraja(state).stk_query(checkout)
        except DarajaError as exc:  # e.g. "still being processed": ask again next pass
            metrics.MPESA_REQUESTS.labels("stk_query", exc.code).inc()
            counts["still_pending"] += 1
            continue
        metrics.MPESA_REQUESTS.labels("stk_query", "ok").inc()
        if str(data.get("ResponseCode")) != "0" or data.get("ResultCode") is None:
            counts["still_pending"] += 1
            continue
        try:
            code = int(str(data["ResultCode"]))
        except ValueError:
            counts["still_pending"] += 1
            continue
        result = mpesa.StkResult(
            checkout_request_id=checkout, merchant_request_id=data.get("MerchantRequestID"),
            result_code=code, result_desc=str(data.get("ResultDesc", ""))[:200],
            receipt=data.get("MpesaReceiptNumber") or None,
        )
        outcome = await apply_stk_result(state, result, from_query=True)
        if outcome in ("paid", "failed"):
            counts[outcome] += 1
    return counts


async def reconcile_b2c_once(state: AppState) -> dict[str, int]:
    """One bounded pass over B2C payouts in flight longer than mpesa_reconcile_after_s.

    Each is queried at most once per mpesa_reconcile_after_s and MAX_QUERY_ATTEMPTS times
    in all. A payout recorded before payouts moved to clearing (its amount still a hold)
    is first taken off hold, so the sweeper cannot release it while it is in flight.
    """
    from server.money.wallets.service import WalletError, start_payout

    after_s = float(state.settings.mpesa_reconcile_after_s)
    rows = await state.pool.fetch(
        "SELECT withdrawal_id, originator_conversation_id, query_attempts FROM mpesa_b2c"
        " WHERE state IN ('sending', 'pending') AND created_at < now() - make_interval(secs => $1)"
        " AND (queried_at IS NULL OR queried_at < now() - make_interval(secs => $1))"
        " AND query_attempts < $2 ORDER BY created_at LIMIT $3",
        after_s, MAX_QUERY_ATTEMPTS, BATCH,
    )
    counts = {"queried": 0, "failed_to_ask": 0, "gave_up": 0}
    for r in rows:
        oid = r["originator_conversation_id"]
        try:
            async with state.pool.acquire() as conn, conn.transaction():
                await start_payout(state, conn, str(r["withdrawal_id"]), MPESA_CLEARING)
        except WalletError as exc:  # decided, or the hold already gone: an operator looks
            if exc.code != "already_decided":
                log.error("mpesa_b2c_not_in_clearing", originator=oid, code=exc.code)
        await state.pool.execute(
            "UPDATE mpesa_b2c SET query_attempts = query_attempts + 1, queried_at = now()"
            " WHERE originator_conversation_id = $1", oid)
        if r["query_attempts"] + 1 >= MAX_QUERY_ATTEMPTS:
            counts["gave_up"] += 1
            log.error("mpesa_b2c_unsettled", originator=oid,
                      hint="check it on the M-Pesa portal; its amount waits in clearing:mpesa")
        try:
            await daraja(state).b2c_status(oid)
        except DarajaError as exc:
            metrics.MPESA_REQUESTS.labels("b2c_status", exc.code).inc()
            counts["failed_to_ask"] += 1
            continue
        metrics.MPESA_REQUESTS.labels("b2c_status", "ok").inc()
        counts["queried"] += 1
    return counts


async def reconcile_forever(state: AppState) -> None:
    interval_s = state.settings.mpesa_reconcile_interval_s
    assert interval_s > 0
    while not state.draining:
        try:
            counts = await reconcile_once(state)
            if counts["queried"]:
                log.info("mpesa_reconciled", **counts)
            if state.settings.payouts_enabled:
                payouts = await reconcile_b2c_once(state)
                if any(payouts.values()):
                    log.info("mpesa_payouts_reconciled", **payouts)
        except Exception:
            log.exception("mpesa_reconcile_failed")
        await asyncio.sleep(interval_s)
