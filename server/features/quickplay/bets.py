"""What every quick bet shares, whichever game it is: ids, replays, the daily limit, results.

The random games (service.py) and football (football.py) both build on this
module, so neither has to reach into the other.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import asyncpg

from ledger import Conn, transfer_id, user_account
from server.features.quickplay.errors import QuickplayError
from server.state import AppState
from server.wording import amount_text


@dataclass(frozen=True, slots=True)
class BetResult:
    """What a player is told about a bet (also returned again on a replay)."""

    bet_id: str
    game: str
    stake_minor: int
    outcome_text: str
    payout_minor: int  # 0 for a loss, and for a football bet until it is settled
    balance_minor: int
    state: str  # settled | open (football, until settled) | won | lost | void
    result: dict[str, Any]
    seed_hash: str | None
    nonce: int | None
    replayed: bool = False

    def public(self) -> dict[str, Any]:
        return {
            "bet_id": self.bet_id, "game": self.game, "stake_minor": self.stake_minor,
            "outcome_text": self.outcome_text, "payout_minor": self.payout_minor,
            "balance_minor": self.balance_minor, "state": self.state, "result": self.result,
            "seed_hash": self.seed_hash, "nonce": self.nonce, "replayed": self.replayed,
        }


def bet_id_for(user_id: str, idem_key: str) -> uuid.UUID:
    """Deterministic: the same player and key always name the same bet."""
    return transfer_id("quick", user_id, idem_key)


async def check_daily_limit(
    conn: Conn, state: AppState, uid: uuid.UUID, stake_minor: int, now: datetime
) -> None:
    """Total stakes per UTC day; the caller holds the player's seed lock, so this is exact."""
    day_start = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    staked = await conn.fetchval(
        "SELECT coalesce(sum(stake_minor), 0) FROM quick_bets"
        " WHERE user_id = $1 AND created_at >= $2 AND state <> 'void'", uid, day_start,
    )
    limit = state.settings.quick_daily_max_minor
    if int(staked) + stake_minor > limit:
        left = max(0, limit - int(staked))
        raise QuickplayError(
            "daily_limit_reached",
            f"Today's limit for quick games is {amount_text(state.settings, limit)};"
            f" {amount_text(state.settings, left)} left.", 409)


async def balance_minor(state: AppState, user_id: str) -> int:
    bal = await state.ledger.balance(user_account(user_id), state.settings.currency)
    return int(bal.available_minor)


async def replay(
    conn: Conn | asyncpg.Pool, state: AppState, uid: uuid.UUID, idem_key: str,
    game: str, stake_minor: int, choice: dict[str, Any],
) -> BetResult | None:
    row = await conn.fetchrow(
        "SELECT b.*, s.seed_hash FROM quick_bets b LEFT JOIN fair_seeds s ON s.id = b.seed_id"
        " WHERE b.user_id = $1 AND b.idem_key = $2", uid, idem_key,
    )
    if row is None:
        return None
    if row["game"] != game or row["stake_minor"] != stake_minor or row["choice"] != choice:
        raise QuickplayError(
            "idempotency_conflict", "This request key was already used for a different bet.", 409)
    return await result_from_row(state, row, replayed=True)


async def result_from_row(state: AppState, row: asyncpg.Record, *, replayed: bool) -> BetResult:
    return BetResult(
        bet_id=str(row["id"]), game=row["game"], stake_minor=row["stake_minor"],
        outcome_text=row["outcome_text"], payout_minor=row["payout_minor"] or 0,
        balance_minor=await balance_minor(state, str(row["user_id"])), state=row["state"],
        result=row["outcome"] or {}, seed_hash=row["seed_hash"], nonce=row["nonce"],
        replayed=replayed,
    )
