"""Every money movement of a tournament, as ledger requests with ids from their cause.

    register   hold    user -> escrow:tournament:<id>   (tid, "entry", user, entry_no)
    leave      void    that hold                         (tid, "leave", user, entry_no)
    no check-in void   that hold                         (tid, "drop", user, entry_no)
    start      post    that hold (the fee is paid)       (tid, "fee", user, entry_no)
    late join  single  user -> escrow (Swiss, running)   (tid, "fee", user, entry_no)
    finish     one linked batch:                         overlay house -> escrow (tid, "overlay"),
               prizes escrow -> user (tid, "prize", user), rake escrow -> house (tid, "rake"),
               rounding escrow -> house (tid, "remainder")
    cancel     void every open hold (tid, "cancel", user, entry_no), refund every posted fee
               escrow -> user (tid, "refund", user)

Each is applied inside the transaction that changes the tournament's or entry's
status, so the money and the status move together; replaying any of them is a
replay in the ledger (same id, same content) and changes nothing.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from competitions import Allocation, Fund
from ledger import HOUSE, TransferKind, TransferRequest, escrow_account, transfer_id, user_account

ESCROW_KIND = "tournament"
MAX_HOLD_S = 90 * 86_400


def escrow(tournament_id: str) -> str:
    return escrow_account(ESCROW_KIND, tournament_id)


def _meta(tournament_id: str) -> dict[str, Any]:
    return {"tournament_id": tournament_id}


def entry_hold(tid: str, user_id: str, entry_no: int, fee_minor: int, currency: str,
               timeout_s: int) -> TransferRequest:
    assert fee_minor > 0 and 1 <= timeout_s <= MAX_HOLD_S
    return TransferRequest(
        id=transfer_id(tid, "entry", user_id, entry_no), debit=user_account(user_id),
        credit=escrow(tid), amount_minor=fee_minor, currency=currency,
        kind=TransferKind.PENDING, timeout_s=timeout_s, code="tournament_entry", meta=_meta(tid),
    )


def release(tid: str, why: str, user_id: str, entry_no: int, hold_id: uuid.UUID) \
        -> TransferRequest:
    """Void an entry hold: `why` is leave, drop or cancel."""
    assert why in ("leave", "drop", "cancel")
    return TransferRequest(
        id=transfer_id(tid, why, user_id, entry_no), debit="", credit="", amount_minor=0,
        currency="", kind=TransferKind.VOID, pending_id=hold_id, code="tournament_" + why,
        meta=_meta(tid),
    )


def post_fee(tid: str, user_id: str, entry_no: int, hold_id: uuid.UUID) -> TransferRequest:
    return TransferRequest(
        id=transfer_id(tid, "fee", user_id, entry_no), debit="", credit="", amount_minor=0,
        currency="", kind=TransferKind.POST, pending_id=hold_id, code="tournament_fee",
        meta=_meta(tid),
    )


def late_fee(tid: str, user_id: str, entry_no: int, fee_minor: int, currency: str) \
        -> TransferRequest:
    return TransferRequest(
        id=transfer_id(tid, "fee", user_id, entry_no), debit=user_account(user_id),
        credit=escrow(tid), amount_minor=fee_minor, currency=currency, code="tournament_fee",
        meta=_meta(tid),
    )


def refunds(tid: str, fees: Sequence[tuple[str, int]], currency: str) -> list[TransferRequest]:
    return [
        TransferRequest(
            id=transfer_id(tid, "refund", user_id), debit=escrow(tid),
            credit=user_account(user_id), amount_minor=fee_minor, currency=currency,
            code="tournament_refund", meta=_meta(tid),
        )
        for user_id, fee_minor in sorted(fees) if fee_minor > 0
    ]


def payout_batch(tid: str, fund: Fund, alloc: Allocation, currency: str) \
        -> list[TransferRequest]:
    """The one linked batch that empties the escrow: overlay in, prizes, rake, rounding out."""
    reqs: list[TransferRequest] = []
    meta = _meta(tid)
    if fund.overlay_minor > 0:
        reqs.append(TransferRequest(
            id=transfer_id(tid, "overlay"), debit=HOUSE, credit=escrow(tid),
            amount_minor=fund.overlay_minor, currency=currency, code="tournament_overlay",
            meta=meta))
    for user_id, amount_minor in sorted(alloc.prizes_minor.items()):
        reqs.append(TransferRequest(
            id=transfer_id(tid, "prize", user_id), debit=escrow(tid),
            credit=user_account(user_id), amount_minor=amount_minor, currency=currency,
            code="tournament_prize", meta=meta))
    for what, amount_minor in (("rake", fund.rake_minor), ("remainder", alloc.remainder_minor)):
        if amount_minor > 0:
            reqs.append(TransferRequest(
                id=transfer_id(tid, what), debit=escrow(tid), credit=HOUSE,
                amount_minor=amount_minor, currency=currency, code="tournament_" + what,
                meta=meta))
    paid_in = fund.fees_minor + fund.overlay_minor
    paid_out = sum(alloc.prizes_minor.values()) + fund.rake_minor + alloc.remainder_minor
    assert paid_in == paid_out, "the escrow ends at zero"
    return reqs


async def resolved_holds(conn: Any, hold_ids: Sequence[uuid.UUID]) -> set[uuid.UUID]:
    """Holds already posted or voided (e.g. by the expiry sweeper), or past their expiry."""
    if not hold_ids:
        return set()
    rows = await conn.fetch(
        "SELECT id FROM transfers WHERE id = ANY($1::uuid[])"
        " AND (resolved_at IS NOT NULL OR expires_at <= now())", list(hold_ids))
    return {r["id"] for r in rows}
