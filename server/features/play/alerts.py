"""Alerts a duel's settlement writes to the outbox, in the settlement's own transaction."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ledger import Ledger, OutboxMessage, TransferKind, TransferRequest, transfer_id

ALERT_CHANNEL = "whatsapp"


def duel_alerts(reqs: Sequence[TransferRequest]) -> list[OutboxMessage]:
    """One `duel_result` alert per player of each settled (or refunded) duel in `reqs`.

    The settlement batch says everything: each player's stake is posted (played)
    or voided (refunded), and a single transfer escrow -> user is the payout. A
    batch may settle many rooms at once; each transfer names its room in `meta`.
    """
    rooms: dict[str, dict[str, dict[str, Any]]] = {}
    for req in reqs:
        room_id = req.meta.get("room_id")
        if room_id is None:
            continue
        players = rooms.setdefault(room_id, {})
        if req.kind in (TransferKind.POST, TransferKind.VOID) and req.debit.startswith("user:"):
            uid = req.debit.removeprefix("user:")
            players.setdefault(uid, {"payout_minor": 0})
            players[uid]["refunded"] = req.kind is TransferKind.VOID
        elif req.kind is TransferKind.SINGLE and req.credit.startswith("user:"):
            uid = req.credit.removeprefix("user:")
            players.setdefault(uid, {"payout_minor": 0})
            players[uid]["payout_minor"] += req.amount_minor
            players[uid]["currency"] = req.currency
    alerts = []
    for room_id, players in rooms.items():
        for uid, facts in sorted(players.items()):
            if facts.get("refunded"):
                result = "refunded"
            elif facts["payout_minor"] > 0:
                result = "won"
            else:
                result = "lost"
            alerts.append(OutboxMessage(
                id=transfer_id(room_id, "alert", uid), channel=ALERT_CHANNEL, recipient=uid,
                kind="duel_result",
                payload={"room_id": room_id, "result": result,
                         "payout_minor": facts["payout_minor"],
                         "currency": facts.get("currency")},
            ))
    return alerts


class AlertingLedger:
    """The ledger as settlement sees it, adding the duel's alerts to the same transaction."""

    def __init__(self, ledger: Ledger) -> None:
        self._ledger = ledger

    async def apply(
        self, conn: Any, reqs: Sequence[TransferRequest], *, outbox: Sequence[Any] = ()
    ) -> Any:
        return await self._ledger.apply(conn, reqs, outbox=[*outbox, *duel_alerts(reqs)])
