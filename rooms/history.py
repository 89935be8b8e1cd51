"""Each player's duel history, newest first, paged by an opaque cursor."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

MAX_LIMIT = 100


@dataclass(frozen=True, slots=True)
class DuelHistoryItem:
    room_id: str
    game: str
    opponent: str
    stake_minor: int
    currency: str
    score: int
    opponent_score: int
    time_ms: int
    result: str  # "won", "lost", "draw", "refunded"
    payout_minor: int
    settled_at: datetime

    @property
    def cursor(self) -> str:
        """Pass as `before` to get the next (older) page."""
        return f"{self.settled_at.isoformat()}|{self.room_id}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "room_id": self.room_id, "game": self.game, "opponent": self.opponent,
            "stake_minor": self.stake_minor,
            "currency": self.currency, "score": self.score,
            "opponent_score": self.opponent_score, "time_ms": self.time_ms,
            "result": self.result, "payout_minor": self.payout_minor,
            "settled_at": self.settled_at.isoformat(),
        }


class BadCursor(ValueError):
    code = "bad_cursor"


def _parse_cursor(before: str) -> tuple[datetime, str]:
    at, sep, room_id = before.partition("|")
    if not sep or not room_id:
        raise BadCursor("the cursor is not one this server gave out")
    try:
        return datetime.fromisoformat(at), room_id
    except ValueError:
        raise BadCursor("the cursor is not one this server gave out") from None


async def duel_history(
    pool: asyncpg.Pool, user_id: str, limit: int = 20, before: str | None = None
) -> list[DuelHistoryItem]:
    """A player's duels, newest first; `before` is the `cursor` of the last item of a page."""
    limit = max(1, min(limit, MAX_LIMIT))
    at, room_id = _parse_cursor(before) if before else (None, None)
    rows = await pool.fetch(
        "SELECT s.room_id, d.game, s.opponent_id, s.stake_minor, d.currency, s.score,"
        " o.score AS opp_score,"
        " s.time_ms, s.outcome, s.payout_minor, s.settled_at"
        " FROM duel_seats s JOIN duels d ON d.room_id = s.room_id"
        " LEFT JOIN duel_seats o ON o.room_id = s.room_id AND o.user_id = s.opponent_id"
        " WHERE s.user_id = $1"
        " AND ($2::timestamptz IS NULL OR (s.settled_at, s.room_id) < ($2, $3))"
        " ORDER BY s.settled_at DESC, s.room_id DESC LIMIT $4",
        user_id, at, room_id, limit,
    )
    return [
        DuelHistoryItem(
            room_id=r["room_id"], game=r["game"], opponent=r["opponent_id"],
            stake_minor=r["stake_minor"],
            currency=r["currency"], score=r["score"], opponent_score=r["opp_score"] or 0,
            time_ms=r["time_ms"], result=r["outcome"], payout_minor=r["payout_minor"],
            settled_at=r["settled_at"],
        )
        for r in rows
    ]
