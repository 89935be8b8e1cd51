"""Reconciliation: ask Daraja (STK Query) about deposits whose callback never came."""

from __future__ import annotations

import asyncio

import structlog

from server import metrics
from server.money.payments import mpesa
from server.money.payments.daraja import DarajaError
from server.money.payments.service import apply_stk_result, daraja
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


async def reconcile_forever(state: AppState) -> None:
    interval_s = state.settings.mpesa_reconcile_interval_s
    assert interval_s > 0
    while not state.draining:
        try:
            counts = await reconcile_once(state)
            if counts["queried"]:
                log.info("mpesa_reconciled", **counts)
        except Exception:
            log.exception("mpesa_reconcile_failed")
        await asyncio.sleep(interval_s)
