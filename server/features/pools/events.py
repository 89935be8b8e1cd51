"""Sports events and their markets: entered by an admin or read from The Odds API feed.

An event has one selection per (market, side) holding the current odds and line; a bet
copies them, so changing a price later never changes a placed bet. A result (final score,
postponed, cancelled) bumps the event's `result_version`; settlement (settle.py) grades
every bet not yet graded at that version, so a corrected result re-grades.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from competitions.pools import odds
from competitions.pools.grading import (
    EventStatus,
    GradingError,
    Market,
    Result,
    Selection,
    Side,
)
from ledger import Conn
from server.features.pools.errors import PoolError
from server.features.pools.service import PoolsService, event_json, ident, selection_json

MAX_SELECTIONS = 16


@dataclass(frozen=True, slots=True)
class Offer:
    """One selection as entered: market, side, line (points, None for moneyline), odds."""

    market: str
    side: str
    line: float | None
    odds: int

    def checked(self, three_way: bool) -> tuple[Market, Side, int | None, int]:
        try:
            line = None if self.line is None else round(self.line * 10)
            if line is not None and abs(self.line * 10 - line) > 1e-6:  # type: ignore[operator]
                raise GradingError("lines are whole or half points")
            sel = Selection(Market(self.market), Side(self.side), line, three_way).check()
            odds.check_odds(self.odds)
        except (ValueError, GradingError, odds.OddsError) as exc:
            raise PoolError("invalid_market", f"That market is not valid: {exc}.") from exc
        return sel.market, sel.side, sel.line_tenths, self.odds


async def upsert_event(
    svc: PoolsService, *, ext_id: str | None, sport: str, home: str, away: str,
    commence_ms: int, three_way: bool, offers: list[Offer], conn: Conn | None = None,
) -> dict[str, Any]:
    """Create or update an event (by ext_id when given) and set its selections' odds/lines.

    A started or graded event keeps its markets (bets are closed; results change it)."""
    if len(offers) > MAX_SELECTIONS:
        raise PoolError("invalid_market", f"At most {MAX_SELECTIONS} selections per game.")
    checked = [o.checked(three_way) for o in offers]
    event_id = ident("event", ext_id) if ext_id else uuid.uuid4()
    db = conn or svc.pool
    row = await db.fetchrow(
        "INSERT INTO pool_events (id, ext_id, sport, home_team, away_team, commence_ms,"
        " three_way) VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (id) DO UPDATE SET"
        " commence_ms = EXCLUDED.commence_ms, three_way = EXCLUDED.three_way,"
        " home_team = EXCLUDED.home_team, away_team = EXCLUDED.away_team"
        " WHERE pool_events.status = 'scheduled' RETURNING *",
        event_id, ext_id, sport[:64], home[:100], away[:100], commence_ms, three_way)
    if row is None:  # not scheduled any more: leave it as it is
        row = await db.fetchrow("SELECT * FROM pool_events WHERE id = $1", event_id)
        assert row is not None
        return event_json(row, svc.now())
    for market, side, line, price in checked:
        await db.execute(
            "INSERT INTO pool_selections (id, event_id, market, side, line_tenths, odds)"
            " VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (event_id, market, side) DO UPDATE"
            " SET line_tenths = EXCLUDED.line_tenths, odds = EXCLUDED.odds, active = true",
            ident("selection", event_id, market, side), event_id, market.value, side.value,
            line, price)
    return await event_detail(svc, str(event_id))


async def event_detail(svc: PoolsService, event_id: str) -> dict[str, Any]:
    try:
        eid = uuid.UUID(event_id)
    except ValueError as exc:
        raise PoolError("event_not_found", "No such game.", 404) from exc
    row = await svc.pool.fetchrow("SELECT * FROM pool_events WHERE id = $1", eid)
    if row is None:
        raise PoolError("event_not_found", "No such game.", 404)
    sels = await svc.pool.fetch("SELECT * FROM pool_selections WHERE event_id = $1"
                                " ORDER BY market, side", eid)
    return event_json(row, svc.now()) | {"selections": [selection_json(s) for s in sels]}


async def set_result(svc: PoolsService, event_id: str, status: str, home: int | None,
                     away: int | None) -> dict[str, Any]:
    """Record (or correct) an event's result; settlement then grades at the new version.

    Recording the same result again changes nothing (no new version)."""
    try:
        res = Result(EventStatus(status), home, away).check()
    except (ValueError, GradingError) as exc:
        raise PoolError("invalid_result", f"That result is not valid: {exc}.") from exc
    if res.status is not EventStatus.FINAL:
        home = away = None
    eid = uuid.UUID((await event_detail(svc, event_id))["id"])
    await svc.pool.execute(
        "UPDATE pool_events SET status = $2, home_score = $3, away_score = $4,"
        " result_version = result_version + 1 WHERE id = $1 AND (status, home_score,"
        " away_score) IS DISTINCT FROM ($2, $3::int, $4::int)", eid, status, home, away)
    return await event_detail(svc, event_id)
