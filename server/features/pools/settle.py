"""Set-based, batched, exactly-once settlement of an event's bets (docs/pools.md).

For an event whose `result_version` is ahead of its `settled_version`:
1. each distinct (selection, line) its ungraded bets hold is graded once, in Python, by the
   pure rules (competitions.pools.grading) — a handful per event, however many bets;
2. members with such bets are taken in chunks (ascending id, `settle_chunk_members`); per
   chunk, ONE transaction locks the member rows, grades every bet of those members with one
   UPDATE (returning what each bet's return changed by: new return - already paid), adds the
   changes up per member, and books one ledger transfer per member (`house -> user` for a
   gain, `user -> house` for a correction that lowers a return) in one `apply()`, with the
   member mirror updated alongside. The bet rows, the money and the mirror commit together.
3. When no ungraded bet is left the event's settled_version catches up.

Exactly once: a bet graded at version v is not selected again for v (the UPDATE re-checks
`graded_version < v` under the row lock), and each transfer id is
transfer_id("pool-settle", event, v, member), so a second run, or two nodes at once,
change nothing. A correction (new version) pays only differences, so re-grading reverses
exactly what changed. Progress is in pool_settlements (admins read it).
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import structlog

from competitions.pools import grading
from competitions.pools.grading import EventStatus, Market, Result, Selection, Side
from ledger import HOUSE, TransferRequest, transfer_id, user_account
from server.features.pools.service import PoolsService

log = structlog.get_logger(__name__)

MAX_CHUNKS = 100_000


async def settle_event(svc: PoolsService, event_id: uuid.UUID,
                       on_chunk: Callable[[int], Awaitable[None]] | None = None) -> int:
    """Settle every bet of the event not graded at its current result version; bets graded."""
    ev = await svc.pool.fetchrow("SELECT * FROM pool_events WHERE id = $1", event_id)
    if ev is None or ev["settled_version"] >= ev["result_version"]:
        return 0
    version: int = ev["result_version"]
    result = Result(EventStatus(ev["status"]), ev["home_score"], ev["away_score"])
    combos = await svc.pool.fetch(
        "SELECT DISTINCT selection_id, market, side, line_tenths, three_way FROM pool_bets"
        " WHERE event_id = $1 AND graded_version < $2", event_id, version)
    sel_ids, lines, grades = [], [], []
    for c in combos:
        g = grading.grade(Selection(Market(c["market"]), Side(c["side"]), c["line_tenths"],
                                    c["three_way"]), result)
        sel_ids.append(c["selection_id"])
        lines.append(c["line_tenths"])
        grades.append(g.value)
    now = svc.now()
    total_members = await svc.pool.fetchval(
        "SELECT count(DISTINCT member_id) FROM pool_bets WHERE event_id = $1"
        " AND graded_version < $2", event_id, version)
    await svc.pool.execute(
        "INSERT INTO pool_settlements (event_id, version, members_total, started_ms)"
        " VALUES ($1, $2, $3, $4) ON CONFLICT (event_id, version) DO UPDATE SET"
        " state = 'running', members_total = pool_settlements.members_done + $3",
        event_id, version, total_members, now)
    graded = 0
    pools: set[str] = set()
    changed: set[str] = set()
    for _ in range(MAX_CHUNKS):
        n, chunk_pools, chunk_users = await _settle_chunk(
            svc, event_id, version, sel_ids, lines, grades)
        if n == 0:
            break
        graded += n
        pools |= chunk_pools
        changed |= chunk_users
        if on_chunk is not None:
            await on_chunk(n)
    await svc.pool.execute(
        "UPDATE pool_events SET settled_version = greatest(settled_version, $2) WHERE id = $1"
        " AND NOT EXISTS (SELECT 1 FROM pool_bets WHERE event_id = $1 AND graded_version < $2)",
        event_id, version)
    await svc.pool.execute(
        "UPDATE pool_settlements SET state = 'done', finished_ms = $3 WHERE event_id = $1"
        " AND version = $2", event_id, version, svc.now())
    if pools:
        await svc.boards.refresh(pools, changed)
    log.info("pool_event_settled", event_id=str(event_id), version=version, bets=graded)
    return graded


GRADE_SQL = """
WITH g AS (
    SELECT * FROM unnest($3::uuid[], $4::int[], $5::text[]) AS g(selection_id, line, grade)
), old AS (
    SELECT id, paid AS old_paid, grade AS old_grade FROM pool_bets
    WHERE event_id = $1 AND member_id = ANY($6) AND graded_version < $2
    FOR UPDATE
), upd AS (
    UPDATE pool_bets b SET grade = g.grade, graded_version = $2,
        returned = CASE g.grade WHEN 'win' THEN b.potential_return
                                WHEN 'loss' THEN 0 ELSE b.stake END,
        paid = CASE g.grade WHEN 'win' THEN b.potential_return
                            WHEN 'loss' THEN 0 ELSE b.stake END
    FROM old, g
    WHERE b.id = old.id AND g.selection_id = b.selection_id
      AND g.line IS NOT DISTINCT FROM b.line_tenths
    RETURNING b.member_id, b.paid - old.old_paid AS delta,
              CASE WHEN old.old_grade IS NULL THEN b.stake ELSE 0 END AS closed
)
SELECT member_id, sum(delta)::bigint AS delta, sum(closed)::bigint AS closed, count(*) AS n
FROM upd GROUP BY member_id
"""


async def _settle_chunk(svc: PoolsService, event_id: uuid.UUID, version: int,
                        sel_ids: list[Any], lines: list[Any],
                        grades: list[str]) -> tuple[int, set[str], set[str]]:
    async with svc.pool.acquire() as conn, conn.transaction():
        ids = [r["member_id"] for r in await conn.fetch(
            "SELECT DISTINCT member_id FROM pool_bets WHERE event_id = $1 AND graded_version < $2"
            " ORDER BY member_id LIMIT $3", event_id, version, svc.cfg.settle_chunk_members)]
        if not ids:
            return 0, set(), set()
        members = {r["id"]: r for r in await conn.fetch(
            "SELECT m.id, m.user_id, m.pool_id, m.credits, w.currency FROM pool_members m"
            " JOIN pool_weeks w ON w.id = m.week_id WHERE m.id = ANY($1) ORDER BY m.id"
            " FOR UPDATE OF m", ids)}
        sums = await conn.fetch(GRADE_SQL, event_id, version, sel_ids, lines, grades, ids)
        reqs: list[TransferRequest] = []
        upd_ids, upd_credit, upd_closed, upd_forgiven = [], [], [], []
        bets = 0
        for s in sums:
            m = members[s["member_id"]]
            delta, closed = int(s["delta"]), int(s["closed"])
            bets += int(s["n"])
            forgiven = 0
            if delta < 0 and -delta > m["credits"]:  # never take more than the member holds
                forgiven = -delta - m["credits"]
                delta = -m["credits"]
            if delta != 0:
                tid = transfer_id("pool-settle", event_id, version, m["id"])
                owner = user_account(m["user_id"])
                reqs.append(TransferRequest(
                    id=tid, debit=HOUSE if delta > 0 else owner,
                    credit=owner if delta > 0 else HOUSE, amount_minor=abs(delta),
                    currency=m["currency"], code="pool_return" if delta > 0 else "pool_correction",
                    meta={"event": str(event_id), "version": version}))
            upd_ids.append(m["id"])
            upd_credit.append(delta)
            upd_closed.append(closed)
            upd_forgiven.append(forgiven)
        if reqs:
            await svc.state.ledger.apply(conn, reqs)
        await conn.execute(
            "UPDATE pool_members m SET credits = m.credits + u.d, open_stake = m.open_stake - u.c,"
            " forgiven = m.forgiven + u.f FROM unnest($1::bigint[], $2::bigint[], $3::bigint[],"
            " $4::bigint[]) AS u(id, d, c, f) WHERE m.id = u.id",
            upd_ids, upd_credit, upd_closed, upd_forgiven)
        await conn.execute(
            "UPDATE pool_settlements SET members_done = members_done + $3,"
            " bets_done = bets_done + $4 WHERE event_id = $1 AND version = $2",
            event_id, version, len(upd_ids), bets)
        return (bets, {str(m["pool_id"]) for m in members.values()},
                {str(members[i]["user_id"]) for i in upd_ids})


async def settle_pending(svc: PoolsService, limit: int = 1000) -> int:
    """Settle every event whose result is ahead of its settlement (the job and admins call it)."""
    rows = await svc.pool.fetch(
        "SELECT id FROM pool_events WHERE settled_version < result_version ORDER BY id LIMIT $1",
        limit)
    total = 0
    for r in rows:
        total += await settle_event(svc, r["id"])
    return total


async def progress(svc: PoolsService, limit: int = 50) -> list[dict[str, Any]]:
    rows = await svc.pool.fetch(
        "SELECT s.*, e.home_team, e.away_team FROM pool_settlements s JOIN pool_events e"
        " ON e.id = s.event_id ORDER BY s.id DESC LIMIT $1", limit)
    return [{"event_id": str(r["event_id"]), "game": f"{r['away_team']} @ {r['home_team']}",
             "version": r["version"], "state": r["state"], "members_total": r["members_total"],
             "members_done": r["members_done"], "bets_done": r["bets_done"],
             "started_ms": r["started_ms"], "finished_ms": r["finished_ms"]} for r in rows]

