"""Wager alerts: a `wager_alert` frame on the player's sockets (any node) and an outbox row.

The outbox row is written in the transaction of what caused it (a journal
entry, a settlement, an acceptance), so an alert exists exactly when its cause
does; the worker delivers it over WhatsApp under the player's alert settings.
The websocket frame is best effort, sent after the commit.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ledger import OutboxMessage, outbox, transfer_id
from server.config import Settings
from server.features.play.alerts import ALERT_CHANNEL
from server.gateway.events import publish_to_user
from server.state import AppState
from server.wording import amount_text

KINDS = frozenset({"wager_match_found", "wager_opponent_ready", "wager_opponent_reported",
                   "wager_dispute_opened", "wager_dispute_ruled", "wager_payout",
                   "wager_result", "wager_refunded", "wager_challenged",
                   "wager_cancel_requested"})


@dataclass(frozen=True, slots=True)
class Alert:
    """One player's alert about one match; `key` makes it idempotent (with room and user)."""

    user_id: str
    kind: str
    room_id: str
    key: str
    text: str
    facts: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        assert self.kind in KINDS, self.kind

    def frame(self) -> dict[str, Any]:
        return {"t": "wager_alert", "kind": self.kind, "room_id": self.room_id,
                "text": self.text, **self.facts}

    def message(self) -> OutboxMessage:
        return OutboxMessage(
            id=transfer_id(self.room_id, "wager_alert", self.key, self.user_id),
            channel=ALERT_CHANNEL, recipient=self.user_id, kind=self.kind,
            payload={"room_id": self.room_id, "text": self.text, **self.facts},
        )


async def enqueue(conn: Any, alerts: Sequence[Alert]) -> None:
    """The alerts' outbox rows, inside the caller's transaction."""
    await outbox.enqueue(conn, [a.message() for a in alerts])


async def push(state: AppState, alerts: Iterable[Alert]) -> None:
    """The alerts' websocket frames, after the commit; a player offline misses only these."""
    for alert in alerts:
        with contextlib.suppress(Exception):
            await publish_to_user(state, alert.user_id, alert.frame())


def result_alerts(settings: Settings, room_id: str, players: Sequence[str], result: str,
                  winner: str | None, payouts: dict[str, int], reason: str | None,
                  ruled: bool) -> list[Alert]:
    """What each player hears when a match is settled (payout, loss, refund, ruling)."""
    alerts: list[Alert] = []
    for uid in players:
        if winner is None:
            why = {"no_show": "a player did not confirm ready in time",
                   "no_report": "nobody reported a result in time",
                   "cancelled": "both players cancelled",
                   "ruled_void": "an admin voided it"}.get(result, "it could not be decided")
            text = f"Your wager match was called off ({why}); your stake is back."
            kind = "wager_refunded"
        elif uid == winner:
            text = (f"You won your wager match: {amount_text(settings, payouts.get(uid, 0))}"
                    " were added to your balance.")
            kind = "wager_payout"
        else:
            text = "Your wager match was settled: your opponent won."
            kind = "wager_result"
        if ruled:
            text += f" Ruling: {reason or 'see the match page'}."
            kind = "wager_dispute_ruled"
        alerts.append(Alert(uid, kind, room_id, "result", text,
                            {"result": result, "winner": winner,
                             "payout_minor": payouts.get(uid, 0)}))
    return alerts
