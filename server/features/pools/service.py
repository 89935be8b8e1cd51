"""Weekly pools on Postgres and the ledger: weeks, passes, the draw, bets, buy-back, prizes.

Money (docs/pools.md, "Money"): pool credits are whole credits of the week's own ledger
currency (`POOL_<year>W<week>`), so they can never be withdrawn (withdrawals move the
wallet currency only) nor mixed with wallet balances. In that currency:
- grant and buy-back: `world -> user:<id>` (credits enter the week);
- a bet: `user:<id> -> house` (posted at once: the stake leaves the member's hand);
- settlement: `house -> user:<id>` for what graded bets return, or, for a correction that
  lowers a return, `user:<id> -> house` (never more than the member holds; the rest is
  forgiven and recorded in pool_members.forgiven).
In the wallet currency: a pass or buy-back paid from the wallet `user:<id> -> house`, a
Stripe payment `clearing:stripe -> house`, and prizes `house -> user:<id>`.

pool_members.credits / open_stake mirror the member's ledger balance and open stakes: every
transaction that moves a member's credits locks the member row first and updates both in
the same transaction as the ledger's `apply()`, so the mirror and the ledger never differ
(tests check it against the ledger) and a board can be rebuilt from Postgres alone.
"""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass
from typing import Any

import asyncpg
import structlog

from competitions.pools import grouping, odds, weeks
from competitions.pools.grading import Market, Selection, Side
from competitions.pools.ranking import Entry, awards, rank
from competitions.pools.weeks import Week
from ledger import HOUSE, WORLD, Conn, TransferRequest, transfer_id, user_account
from server.features.pools.board import Boards
from server.features.pools.errors import PoolError
from server.features.pools.settings import PoolsSettings
from server.state import AppState

log = structlog.get_logger(__name__)

NS = uuid.UUID("0b9e7c55-7f1c-4f51-8d7e-2b2f6a0d4c21")
MAX_CLIENT_KEY = 100
DRAW_LOCK = 0x706F6F6C  # "pool": advisory lock class of the draw and the week's end
REGISTERED_TEXT = "You are registered for next week — pools are drawn Monday 00:00 ET."


def ident(*parts: object) -> uuid.UUID:
    """A deterministic id from its cause (pools, bets, events)."""
    return uuid.uuid5(NS, ":".join(str(p) for p in parts))


def week_key(week_id: str) -> int:
    return int.from_bytes(ident("week-lock", week_id).bytes[:4], "big") - 2**31


@dataclass
class PoolsService:
    state: AppState
    cfg: PoolsSettings
    boards: Boards

    @property
    def pool(self) -> asyncpg.Pool:
        return self.state.pool

    def now(self) -> int:
        return self.state.clock.now_ms()

    def wallet_currency(self) -> str:
        return str(self.state.settings.currency)

    # ---- weeks ------------------------------------------------------------------------

    async def ensure_week(self, week: Week, conn: Conn | None = None) -> None:
        await (conn or self.pool).execute(
            "INSERT INTO pool_weeks (id, currency, start_ms, end_ms) VALUES ($1, $2, $3, $4)"
            " ON CONFLICT (id) DO NOTHING", week.id, week.currency, week.start_ms, week.end_ms)

    async def week_info(self, user_id: str | None) -> dict[str, Any]:
        """This week, next week, the countdown, and the caller's pass/pool (for the PWA)."""
        now = self.now()
        this, nxt = weeks.week_of(now), weeks.week_of(now).next()
        for w in (this, nxt):
            await self.ensure_week(w)
        rows = {r["id"]: r for r in await self.pool.fetch(
            "SELECT id, state, players, pools, encode(seed, 'hex') AS seed FROM pool_weeks"
            " WHERE id = ANY($1)", [this.id, nxt.id])}
        out: dict[str, Any] = {
            "now_ms": now, "countdown_ms": weeks.countdown_ms(now),
            "this_week": _week_json(this, rows[this.id]),
            "next_week": _week_json(nxt, rows[nxt.id]),
            "draw_text": "Pools are drawn Monday 00:00 ET.",
        }
        if user_id is not None:
            uid = uuid.UUID(user_id)
            registered = await self.pool.fetchval(
                "SELECT 1 FROM pool_passes WHERE week_id = $1 AND user_id = $2", nxt.id, uid)
            out["registered_next_week"] = bool(registered)
            if registered:
                out["registered_text"] = REGISTERED_TEXT
            out["member"] = await self.member_json(this, uid)
        return out

    async def member_json(self, week: Week, uid: uuid.UUID) -> dict[str, Any] | None:
        row = await self.pool.fetchrow(
            "SELECT m.pool_id, m.seat, m.credits, m.open_stake, m.buyback_ms, p.number"
            " FROM pool_members m JOIN pool_pools p ON p.id = m.pool_id"
            " WHERE m.week_id = $1 AND m.user_id = $2", week.id, uid)
        if row is None:
            return None
        now = self.now()
        return {"week_id": week.id, "pool_id": str(row["pool_id"]), "pool_number": row["number"],
                "seat": row["seat"], "credits": row["credits"], "open_stake": row["open_stake"],
                "buyback_used": row["buyback_ms"] is not None,
                "buyback_open": (row["buyback_ms"] is None and row["credits"] == 0
                                 and now < week.buyback_until_ms),
                "buyback_until_ms": week.buyback_until_ms}

    # ---- passes -----------------------------------------------------------------------

    async def grant_pass(self, conn: Conn, week_id: str, uid: uuid.UUID,
                         source: str, purchase_id: uuid.UUID | None) -> None:
        await conn.execute(
            "INSERT INTO pool_passes (week_id, user_id, source, purchase_id, created_ms)"
            " VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
            week_id, uid, source, purchase_id, self.now())

    # ---- the draw ---------------------------------------------------------------------

    async def run_draw(self, week: Week) -> bool:
        """Draw `week`'s pools once (any number of nodes may call it); True if this call drew
        or finished a draw. The seed is recorded before any pool exists, and the grants are
        replays after a crash, so a draw interrupted anywhere is finished by the next call."""
        if self.now() < week.start_ms:
            return False
        await self.ensure_week(week)
        async with self.pool.acquire() as conn:
            if not await conn.fetchval("SELECT pg_try_advisory_lock($1, $2)",
                                       DRAW_LOCK, week_key(week.id)):
                return False
            try:
                return await self._draw_locked(conn, week)
            finally:
                await _unlock(conn, week)

    async def _draw_locked(self, conn: Conn, week: Week) -> bool:
        st = await conn.fetchval("SELECT state FROM pool_weeks WHERE id = $1", week.id)
        if st not in ("open", "drawing"):
            return False
        if st == "open":
            players = [str(r["user_id"]) for r in await conn.fetch(
                "SELECT user_id FROM pool_passes WHERE week_id = $1", week.id)]
            seed = secrets.token_bytes(grouping.SEED_BYTES)
            pools = grouping.draw(players, seed, self.cfg.pool_max_size)
            pool_ids = [ident("pool", week.id, n) for n in range(1, len(pools) + 1)]
            async with conn.transaction():
                await conn.execute(
                    "INSERT INTO pool_pools (id, week_id, number, size)"
                    " SELECT * FROM unnest($1::uuid[], $2::text[], $3::int[], $4::int[])",
                    pool_ids, [week.id] * len(pools), list(range(1, len(pools) + 1)),
                    [len(p) for p in pools])
                m_pool, m_user, m_seat = [], [], []
                for pid, members in zip(pool_ids, pools, strict=True):
                    for seat, user in enumerate(members, start=1):
                        m_pool.append(pid)
                        m_user.append(uuid.UUID(user))
                        m_seat.append(seat)
                await conn.execute(
                    "INSERT INTO pool_members (week_id, pool_id, user_id, seat)"
                    " SELECT $1, * FROM unnest($2::uuid[], $3::uuid[], $4::int[])",
                    week.id, m_pool, m_user, m_seat)
                await conn.execute(
                    "UPDATE pool_weeks SET state = 'drawing', seed = $2, players = $3,"
                    " pools = $4, drawn_ms = $5 WHERE id = $1",
                    week.id, seed, len(players), len(pools), self.now())
            log.info("pool_draw", week=week.id, players=len(players), pools=len(pools))
        # grants, one pool per transaction: replays after a crash
        for row in await conn.fetch(
                "SELECT DISTINCT pool_id FROM pool_members WHERE week_id = $1 AND NOT granted",
                week.id):
            await self._grant_pool(conn, week, row["pool_id"])
        await conn.execute("UPDATE pool_weeks SET state = 'grouped' WHERE id = $1"
                           " AND state = 'drawing'", week.id)
        for r in await conn.fetch("SELECT id FROM pool_pools WHERE week_id = $1", week.id):
            await self.boards.rebuild(str(r["id"]))
        return True

    async def _grant_pool(self, conn: Conn, week: Week, pool_id: uuid.UUID) -> None:
        n = self.cfg.credits_per_member
        async with conn.transaction():
            members = await conn.fetch(
                "SELECT id, user_id FROM pool_members WHERE pool_id = $1 AND NOT granted"
                " ORDER BY id FOR UPDATE", pool_id)
            if not members:
                return
            await self.state.ledger.apply(conn, [TransferRequest(
                id=transfer_id("pool-grant", week.id, m["user_id"]), debit=WORLD,
                credit=user_account(m["user_id"]), amount_minor=n, currency=week.currency,
                code="pool_grant", meta={"week": week.id}) for m in members])
            await conn.execute(
                "UPDATE pool_members SET granted = true, credits = credits + $2"
                " WHERE id = ANY($1)", [m["id"] for m in members], n)

    # ---- bets -------------------------------------------------------------------------

    async def place_bet(self, user_id: str, selection_id: str, stake: int, client_key: str,
                        expect_odds: int | None = None) -> tuple[dict[str, Any], bool]:
        """Stake credits on a selection at its current odds; (bet, replayed).

        The same client_key returns the first bet. Refused from the event's start on (server
        clock), outside bet_min..bet_max, above the member's credits, or if the odds moved
        from `expect_odds` (the slip then shows the new price)."""
        uid = uuid.UUID(user_id)
        if not 1 <= len(client_key) <= MAX_CLIENT_KEY:
            raise PoolError("invalid_request", "The bet needs a client key of 1..100 characters.")
        first = await self._bet_by_key(uid, client_key)
        if first is not None:
            return self._same_bet(first, selection_id, stake), True
        if type(stake) is not int or not self.cfg.bet_min <= stake <= self.cfg.bet_max:
            raise PoolError("stake_out_of_range",
                            f"A bet is {self.cfg.bet_min} to {self.cfg.bet_max} credits.")
        try:
            sid = uuid.UUID(selection_id)
        except ValueError as exc:
            raise PoolError("selection_not_found", "That market is not offered.", 404) from exc
        sel = await self.pool.fetchrow(
            "SELECT s.*, e.commence_ms, e.status, e.three_way FROM pool_selections s"
            " JOIN pool_events e ON e.id = s.event_id WHERE s.id = $1", sid)
        if sel is None or not sel["active"]:
            raise PoolError("selection_not_found", "That market is not offered.", 404)
        now = self.now()
        if now >= sel["commence_ms"] or sel["status"] != "scheduled":
            raise PoolError("event_started", "That game has started; bets are closed.", 409)
        week = weeks.week_of(now)
        if sel["commence_ms"] >= week.end_ms:
            raise PoolError("event_not_this_week",
                            "That game starts after this week's pools close.", 409)
        if expect_odds is not None and expect_odds != sel["odds"]:
            raise PoolError("odds_changed", f"The odds moved to {_odds_text(sel['odds'])};"
                            " check your bet slip.", 409)
        back = odds.potential_return(stake, sel["odds"])
        bet_id = ident("bet", uid, client_key)
        async with self.pool.acquire() as conn, conn.transaction():
            member = await conn.fetchrow(
                "SELECT m.id, m.pool_id, m.credits FROM pool_members m JOIN pool_weeks w"
                " ON w.id = m.week_id WHERE m.week_id = $1 AND m.user_id = $2"
                " AND w.state = 'grouped' FOR UPDATE OF m", week.id, uid)
            if member is None:
                raise PoolError("not_in_a_pool", "You are not in a pool this week.", 403)
            if member["credits"] < stake:
                raise PoolError("not_enough_credits",
                                f"You have {member['credits']} credits left this week.", 409)
            inserted = await conn.fetchval(
                "INSERT INTO pool_bets (id, member_id, week_id, pool_id, user_id, event_id,"
                " selection_id, market, side, line_tenths, three_way, odds, stake,"
                " potential_return, client_key, placed_ms) VALUES ($1, $2, $3, $4, $5, $6, $7,"
                " $8, $9, $10, $11, $12, $13, $14, $15, $16) ON CONFLICT DO NOTHING"
                " RETURNING true", bet_id, member["id"], week.id, member["pool_id"], uid,
                sel["event_id"], sid, sel["market"], sel["side"], sel["line_tenths"],
                sel["three_way"], sel["odds"], stake, back, client_key, now)
            if inserted:
                await self.state.ledger.apply(conn, [TransferRequest(
                    id=transfer_id("pool-bet", bet_id), debit=user_account(uid), credit=HOUSE,
                    amount_minor=stake, currency=week.currency, code="pool_bet",
                    meta={"bet": str(bet_id)})])
                await conn.execute(
                    "UPDATE pool_members SET credits = credits - $2, open_stake = open_stake + $2"
                    " WHERE id = $1", member["id"], stake)
        row = await self._bet_by_key(uid, client_key)
        assert row is not None
        if inserted:
            await self.boards.refresh([str(member["pool_id"])], [user_id])
        return self._same_bet(row, selection_id, stake), not inserted

    async def _bet_by_key(self, uid: uuid.UUID, key: str) -> asyncpg.Record | None:
        row: asyncpg.Record | None = await self.pool.fetchrow(
            "SELECT b.*, e.home_team, e.away_team FROM pool_bets b JOIN pool_events e"
            " ON e.id = b.event_id WHERE b.user_id = $1 AND b.client_key = $2", uid, key)
        return row

    def _same_bet(self, row: asyncpg.Record, selection_id: str, stake: int) -> dict[str, Any]:
        if str(row["selection_id"]) != selection_id or row["stake"] != stake:
            raise PoolError("idempotency_conflict",
                            "That client key was already used for another bet.", 409)
        return bet_json(row)

    async def my_bets(self, user_id: str, week_id: str) -> list[dict[str, Any]]:
        rows = await self.pool.fetch(
            "SELECT b.*, e.home_team, e.away_team FROM pool_bets b JOIN pool_events e"
            " ON e.id = b.event_id WHERE b.user_id = $1 AND b.week_id = $2"
            " ORDER BY b.placed_ms DESC LIMIT 500", uuid.UUID(user_id), week_id)
        return [bet_json(r) for r in rows]

    def slip(self, stake: int, price: int) -> dict[str, Any]:
        """The bet slip: potential return in whole credits and the rounding rule."""
        if type(stake) is not int or stake <= 0:
            raise PoolError("stake_out_of_range", "The stake is a whole number of credits.")
        try:
            back = odds.potential_return(stake, price)
        except odds.OddsError as exc:
            raise PoolError("invalid_odds", "Those are not American odds.") from exc
        return {"stake": stake, "odds": price, "potential_return": back,
                "profit": back - stake,
                "rule": "Return = stake + profit; profit is stake x odds/100 for + odds and"
                        " stake x 100/|odds| for - odds, rounded down to whole credits."}

    # ---- buy-back ---------------------------------------------------------------------

    async def check_buyback(self, week: Week, uid: uuid.UUID) -> None:
        """Refuse a buy-back unless the member holds 0 credits, has not bought back this week,
        and it is before Saturday 00:00 New York (through Friday 23:59)."""
        if self.now() >= week.buyback_until_ms:
            raise PoolError("buyback_closed", "Buy-back closes Friday 23:59 ET.", 409)
        row = await self.pool.fetchrow(
            "SELECT credits, buyback_ms FROM pool_members WHERE week_id = $1 AND user_id = $2",
            week.id, uid)
        if row is None:
            raise PoolError("not_in_a_pool", "You are not in a pool this week.", 403)
        if row["buyback_ms"] is not None:
            raise PoolError("buyback_used", "You have used this week's buy-back.", 409)
        if row["credits"] != 0:
            raise PoolError("buyback_not_at_zero",
                            "Buy-back is for players at 0 credits.", 409)

    async def grant_buyback(self, conn: Conn, week_id: str, uid: uuid.UUID) -> str | None:
        """Add the buy-back credits (inside the caller's transaction, exactly once per week);
        the member's pool id, or None if it was already granted."""
        week = weeks.parse_week_id(week_id)
        member = await conn.fetchrow(
            "SELECT id, pool_id, buyback_ms FROM pool_members WHERE week_id = $1"
            " AND user_id = $2 FOR UPDATE", week_id, uid)
        if member is None or member["buyback_ms"] is not None:
            return None
        n = self.cfg.buyback_credits
        await self.state.ledger.apply(conn, [TransferRequest(
            id=transfer_id("pool-buyback", week_id, uid), debit=WORLD, credit=user_account(uid),
            amount_minor=n, currency=week.currency, code="pool_buyback",
            meta={"week": week_id})])
        await conn.execute("UPDATE pool_members SET credits = credits + $2, buyback_ms = $3"
                           " WHERE id = $1", member["id"], n, self.now())
        return str(member["pool_id"])

    # ---- the week's end: standings and prizes -----------------------------------------

    async def finalize(self, week: Week, *, force: bool = False) -> bool:
        """Store final standings and pay prizes once: after the week's end and once every bet
        is graded (`force`: an admin closes a week whose last results will not come; its
        open bets keep their stakes out of the bankroll). True if this call finalized."""
        if self.now() < week.end_ms:
            return False
        async with self.pool.acquire() as conn:
            if not await conn.fetchval("SELECT pg_try_advisory_lock($1, $2)",
                                       DRAW_LOCK, week_key(week.id)):
                return False
            try:
                return await self._finalize_locked(conn, week, force)
            finally:
                await _unlock(conn, week)

    async def _finalize_locked(self, conn: Conn, week: Week, force: bool) -> bool:
        async with conn.transaction():
            st = await conn.fetchval("SELECT state FROM pool_weeks WHERE id = $1 FOR UPDATE",
                                     week.id)
            if st != "grouped":
                return False
            open_bets = await conn.fetchval(
                "SELECT count(*) FROM pool_bets WHERE week_id = $1 AND grade IS NULL", week.id)
            if open_bets and not force:
                return False
            table = self.cfg.prizes()
            cur = self.wallet_currency()
            reqs: list[TransferRequest] = []
            prize_rows: list[tuple[Any, ...]] = []
            pools = await conn.fetch("SELECT id, size FROM pool_pools WHERE week_id = $1"
                                     " ORDER BY number", week.id)
            for p in pools:
                members = await conn.fetch(
                    "SELECT user_id, seat, credits FROM pool_members WHERE pool_id = $1", p["id"])
                standings = rank([Entry(str(m["user_id"]), m["credits"], m["seat"])
                                  for m in members])
                await conn.execute(
                    "INSERT INTO pool_standings (pool_id, user_id, rank, bankroll, seat)"
                    " SELECT $1, * FROM unnest($2::uuid[], $3::int[], $4::bigint[], $5::int[])",
                    p["id"], [uuid.UUID(s.key) for s in standings], [s.rank for s in standings],
                    [s.score for s in standings], [s.seat for s in standings])
                fund = self.cfg.prize_fund_per_member_minor * p["size"]
                prizes, _rest = awards(standings, table, fund)
                ranks = {s.key: s.rank for s in standings}
                for user, amount in prizes.items():
                    held = amount > self.cfg.prize_check_above_minor
                    prize_rows.append((p["id"], uuid.UUID(user), ranks[user], amount,
                                       "held" if held else "paid"))
                    if not held:
                        reqs.append(self._prize_transfer(p["id"], user, amount, week.id))
            if prize_rows:
                await conn.executemany(
                    "INSERT INTO pool_prizes (pool_id, user_id, week_id, rank, amount_minor,"
                    " currency, state, paid_ms) VALUES ($1, $2, $3, $4, $5, $6, $7,"
                    " CASE WHEN $7 = 'paid' THEN $8::bigint END)",
                    [(pid, uid, week.id, r, a, cur, s, self.now())
                     for pid, uid, r, a, s in prize_rows])
            if reqs:  # one linked batch: every prize of the week or none
                await self.state.ledger.apply(conn, reqs)
            await conn.execute("UPDATE pool_weeks SET state = 'settled', settled_ms = $2"
                               " WHERE id = $1", week.id, self.now())
        log.info("pool_week_settled", week=week.id, prizes=len(prize_rows), paid=len(reqs))
        return True

    def _prize_transfer(self, pool_id: uuid.UUID, user: str, amount: int,
                        week_id: str) -> TransferRequest:
        return TransferRequest(
            id=transfer_id("pool-prize", pool_id, user), debit=HOUSE, credit=user_account(user),
            amount_minor=amount, currency=self.wallet_currency(), code="pool_prize",
            meta={"week": week_id, "pool": str(pool_id)})

    async def approve_prize(self, pool_id: str, user_id: str, admin: str) -> dict[str, Any]:
        """An admin checked the winner's identity: pay a held prize (once)."""
        pid, uid = uuid.UUID(pool_id), uuid.UUID(user_id)
        async with self.pool.acquire() as conn, conn.transaction():
            row = await conn.fetchrow("SELECT * FROM pool_prizes WHERE pool_id = $1 AND"
                                      " user_id = $2 FOR UPDATE", pid, uid)
            if row is None:
                raise PoolError("prize_not_found", "No such prize.", 404)
            if row["state"] == "held":
                await self.state.ledger.apply(conn, [self._prize_transfer(
                    pid, user_id, row["amount_minor"], row["week_id"])])
                row = await conn.fetchrow(
                    "UPDATE pool_prizes SET state = 'paid', approved_by = $3, paid_ms = $4"
                    " WHERE pool_id = $1 AND user_id = $2 RETURNING *", pid, uid, admin,
                    self.now())
        assert row is not None
        return prize_json(row)

    # ---- reads ------------------------------------------------------------------------

    async def events(self, week: Week) -> list[dict[str, Any]]:
        rows = await self.pool.fetch(
            "SELECT * FROM pool_events WHERE commence_ms >= $1 AND commence_ms < $2"
            " ORDER BY commence_ms, id LIMIT 1000", week.start_ms, week.end_ms)
        sels = await self.pool.fetch(
            "SELECT * FROM pool_selections WHERE event_id = ANY($1) AND active"
            " ORDER BY market, side", [r["id"] for r in rows])
        by_event: dict[uuid.UUID, list[dict[str, Any]]] = {}
        for s in sels:
            by_event.setdefault(s["event_id"], []).append(selection_json(s))
        now = self.now()
        return [event_json(r, now) | {"selections": by_event.get(r["id"], [])} for r in rows]


def _odds_text(price: int) -> str:
    return f"+{price}" if price > 0 else str(price)


def _week_json(week: Week, row: asyncpg.Record) -> dict[str, Any]:
    return {"id": week.id, "start_ms": week.start_ms, "end_ms": week.end_ms,
            "buyback_until_ms": week.buyback_until_ms, "state": row["state"],
            "players": row["players"], "pools": row["pools"], "seed": row["seed"]}


def selection_json(s: asyncpg.Record) -> dict[str, Any]:
    return {"id": str(s["id"]), "market": s["market"], "side": s["side"],
            "line": None if s["line_tenths"] is None else s["line_tenths"] / 10,
            "odds": s["odds"], "odds_text": _odds_text(s["odds"])}


def event_json(r: asyncpg.Record, now_ms: int) -> dict[str, Any]:
    return {"id": str(r["id"]), "ext_id": r["ext_id"], "sport": r["sport"],
            "home_team": r["home_team"], "away_team": r["away_team"],
            "commence_ms": r["commence_ms"], "three_way": r["three_way"],
            "status": r["status"], "home_score": r["home_score"],
            "away_score": r["away_score"], "open": r["status"] == "scheduled"
            and now_ms < r["commence_ms"], "result_version": r["result_version"],
            "settled_version": r["settled_version"]}


def bet_json(r: asyncpg.Record) -> dict[str, Any]:
    return {"id": str(r["id"]), "event_id": str(r["event_id"]),
            "selection_id": str(r["selection_id"]), "game": f"{r['away_team']} @ {r['home_team']}",
            "market": r["market"], "side": r["side"],
            "line": None if r["line_tenths"] is None else r["line_tenths"] / 10,
            "odds": r["odds"], "stake": r["stake"], "potential_return": r["potential_return"],
            "grade": r["grade"], "returned": r["returned"], "placed_ms": r["placed_ms"],
            "client_key": r["client_key"]}


def prize_json(r: asyncpg.Record) -> dict[str, Any]:
    return {"pool_id": str(r["pool_id"]), "user_id": str(r["user_id"]), "week_id": r["week_id"],
            "rank": r["rank"], "amount_minor": r["amount_minor"], "currency": r["currency"],
            "state": r["state"]}


def selection_of(row: asyncpg.Record) -> Selection:
    return Selection(Market(row["market"]), Side(row["side"]), row["line_tenths"],
                     row["three_way"])


async def _unlock(conn: Conn, week: Week) -> None:
    """Release the week's session lock. Pooled connections go back without a reset query,
    so a connection whose unlock did not run (cancelled, broken) is closed, never reused
    with the lock still held."""
    try:
        await conn.execute("SELECT pg_advisory_unlock($1, $2)", DRAW_LOCK, week_key(week.id))
    except BaseException:
        conn.terminate()
        raise
