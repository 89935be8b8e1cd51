"""Alert wording per kind. Short, factual, and never a promise of winnings."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from server.config import Settings
from server.wording import amount_text

MAX_ALERT_CHARS = 1000

Render = Callable[[Settings, dict[str, Any]], str]


def _amount(settings: Settings, payload: dict[str, Any], key: str = "amount_minor") -> str:
    value = payload.get(key)
    if isinstance(value, int) and value >= 0:
        return amount_text(settings, value)
    return "the amount"


def _reason(payload: dict[str, Any]) -> str:
    reason = payload.get("reason")
    return f" Reason: {str(reason)[:200]}." if reason else ""


def _game(payload: dict[str, Any]) -> str:
    return str(payload.get("game") or "game").replace("_", " ")


RENDERERS: dict[str, Render] = {
    "deposit_approved": lambda s, p: f"Your deposit of {_amount(s, p)} is in your wallet.",
    "deposit_rejected": lambda s, p: (
        f"Your deposit of {_amount(s, p)} was not approved.{_reason(p)}"
    ),
    "withdrawal_approved": lambda s, p: f"Your withdrawal of {_amount(s, p)} has been paid out.",
    "withdrawal_paid": lambda s, p: f"Your withdrawal of {_amount(s, p)} has been paid out.",
    "withdrawal_rejected": lambda s, p: (
        f"Your withdrawal of {_amount(s, p)} was not approved; it is back in your balance."
        f"{_reason(p)}"
    ),
    "match_found": lambda s, p: (
        f"Your {_game(p)} match is ready. Open Matchpot to play: {s.resolved_public_url}/play"
    ),
    "duel_result": lambda s, p: (
        f"Your {_game(p)} duel is over: {p.get('result') or 'see the app'!s}."
        + (f" {_amount(s, p, 'payout_minor')} added to your balance."
           if p.get("payout_minor") else "")
    ),
    "payout": lambda s, p: f"{_amount(s, p)} from your {_game(p)} was added to your balance.",
    "bet_settled": lambda s, p: (
        f"Your bet {p.get('bet_id', '')} is settled; returned {_amount(s, p, 'payout_minor')}."
    ),
}


def render_alert(settings: Settings, kind: str, payload: dict[str, Any]) -> str:
    """The alert's sentence: the payload's own `text` if the producer wrote one, else by kind."""
    given = payload.get("text")
    if isinstance(given, str) and given.strip():
        text = given.strip()
    elif kind in RENDERERS:
        text = RENDERERS[kind](settings, payload)
    else:
        text = "There is an update on your Matchpot account. Open the app to see it."
    return text[:MAX_ALERT_CHARS]
