"""What a settled wager changes besides money, in the settlement's own transaction.

Ratings (OpenSkill per mode, capped, at most a few rated matches per pair and
day), per-mode stats, reliability (no-shows and claims proven false cost
points; clean matches earn one back) and the match row itself. The settlement
runs this only when it commits the money for the first time (a replay returns
the first result before getting here), so every change happens exactly once;
`wager_rating_changes` has one row per rated seat as the proof.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from rooms.api import Outcome
from rooms.types import MatchSpec
from server.features.wagers.rating import Skill, rate_win
from server.features.wagers.settings import WagersSettings


def utc_of(now_ms: int) -> datetime:
    return datetime.fromtimestamp(now_ms / 1000, UTC)


async def _skill(conn: Any, user_id: str, mode: str) -> Skill:
    await conn.execute(
        "INSERT INTO wager_ratings (user_id, mode, mu, sigma) VALUES ($1, $2, $3, $4)"
        " ON CONFLICT DO NOTHING", user_id, mode, Skill().mu, Skill().sigma)
    row = await conn.fetchrow(
        "SELECT mu, sigma, rated_matches FROM wager_ratings WHERE user_id = $1 AND mode = $2"
        " FOR UPDATE", user_id, mode)
    return Skill(row["mu"], row["sigma"], row["rated_matches"])


async def adjust_reliability(conn: Any, user_id: str, delta: int) -> None:
    await conn.execute(
        "UPDATE wager_profiles SET reliability = greatest(0, least(100, reliability + $2)),"
        " updated_at = now() WHERE user_id = $1", user_id, delta)


async def record_settlement(conn: Any, spec: MatchSpec, outcome: Outcome, now_ms: int,
                            settings: WagersSettings) -> bool:
    """Apply the match's consequences; False if the room is no wager match (nothing to do)."""
    row = await conn.fetchrow(
        "SELECT mode, status FROM wager_matches WHERE room_id = $1 FOR UPDATE", spec.room_id)
    if row is None or row["status"] == "settled":
        return False
    mode = row["mode"]
    now = utc_of(now_ms)
    detail = outcome.detail
    rated = False
    winner = outcome.winner
    if winner is not None:
        loser = next(u for u in spec.user_ids if u != winner)
        day_start = now.replace(hour=0, minute=0, second=0, microsecond=0)
        pair_today = await conn.fetchval(
            "SELECT count(*) FROM wager_matches WHERE rated AND players @> $1::uuid[]"
            " AND settled_at >= $2 AND settled_at < $3",
            [winner, loser], day_start, day_start + timedelta(days=1))
        rated = pair_today < settings.pair_daily_rated_max
        for uid in sorted(spec.user_ids):  # one lock order for every settlement
            await _skill(conn, uid, mode)
        if rated:
            w_before, l_before = await _skill(conn, winner, mode), await _skill(conn, loser, mode)
            w_after, l_after = rate_win(w_before, l_before,
                                        max_change=settings.rating_max_change)
            for uid, before, after in ((winner, w_before, w_after), (loser, l_before, l_after)):
                await conn.execute(
                    "UPDATE wager_ratings SET mu = $3, sigma = $4, rated_matches = $5"
                    " WHERE user_id = $1 AND mode = $2",
                    uid, mode, after.mu, after.sigma, after.rated_matches)
                await conn.execute(
                    "INSERT INTO wager_rating_changes (room_id, user_id, mode, mu_before, mu_after)"
                    " VALUES ($1, $2, $3, $4, $5)", spec.room_id, uid, mode, before.mu, after.mu)
        stake = spec.stake_of(winner).stake_minor
        ruled_against = outcome.result == "ruled"
        for uid, won in ((winner, True), (loser, False)):
            await conn.execute(
                "UPDATE wager_ratings SET matches = matches + 1,"
                " wins = wins + $3::int, losses = losses + (1 - $3::int),"
                " streak = CASE WHEN $3::int = 1 THEN greatest(streak, 0) + 1"
                "               ELSE least(streak, 0) - 1 END,"
                " staked_minor = staked_minor + $4, won_minor = won_minor + $5,"
                " disputes_lost = disputes_lost + $6, last_played_at = $7"
                " WHERE user_id = $1 AND mode = $2",
                uid, mode, int(won), stake, int(outcome.payouts_minor.get(uid, 0)),
                int(ruled_against and not won), now)
        false_claim = detail.get("false_claim")
        if false_claim in spec.user_ids:
            await adjust_reliability(conn, str(false_claim), -settings.false_claim_penalty)
        if outcome.result == "win":
            for uid in spec.user_ids:
                await adjust_reliability(conn, uid, settings.completed_bonus)
    for uid in detail.get("no_show", ()):
        if uid in spec.user_ids:
            await adjust_reliability(conn, str(uid), -settings.no_show_penalty)
    await conn.execute(
        "UPDATE wager_matches SET status = 'settled', result = $2, winner = $3, rated = $4,"
        " settled_at = $5, updated_at = now() WHERE room_id = $1",
        spec.room_id, outcome.result, winner, rated, now)
    return True
