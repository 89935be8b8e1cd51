"""Tournaments on this node: registration and fees, the live bracket, matches, prizes.

The state machine (docs/tournaments.md):

    draft -> registration -> [checkin] -> running <-> paused -> finished
       \\__________\\______________\\__________\\_________________-> cancelled

Money moves only inside the transaction that changes a status, with ids from
their cause (money.py), so every fee is held, posted, voided or refunded
exactly once and the prizes are one linked batch, paid once. The node named
in a tournament's row drives it: it keeps the format's state machine
(`competitions`) in memory behind one lock, writes its JSON state after every
result, opens each ready match with a check-in window on the server clock,
seats the pair in a room of the match kind, and reads the room's outcome.
Other nodes answer reads from Postgres and send live actions to that node
(`wrong_node`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import structlog
from croniter import croniter

import competitions
from competitions import Competition, Pairing, PrizeTable, Result
from ledger import OutboxMessage, transfer_id
from rooms.clock import TimerHandle
from server.admin.audit import audit
from server.features.play.alerts import ALERT_CHANNEL
from server.features.tournaments import money
from server.features.tournaments.errors import TournamentError
from server.features.tournaments.feed import BracketFeed, Send
from server.features.tournaments.kinds import MatchKind, MatchOutcome, MatchTicket
from server.features.tournaments.settings import TournamentSettings
from server.gateway.events import publish_to_user
from server.state import AppState, Slot
from server.wording import amount_text

log = structlog.get_logger(__name__)

OPEN = ("registration", "checkin")
LIVE = ("running", "paused")
ENDED = ("finished", "cancelled")
MAX_TASKS = 10_000
SCHEDULER_BATCH = 100
ENTRY_COLUMNS = ("user_id::text AS user_id, status, entry_no, hold_id, fee_minor, fee_posted,"
                 " rating, seed, registered_at_ms, place, prize_minor")


@dataclass(slots=True)
class MatchRun:
    """A ready match on this node: its check-in window, then its room."""

    pairing: Pairing
    deadline_ms: int
    checked_in: set[str] = field(default_factory=set)
    timer: TimerHandle | None = None
    ticket: MatchTicket | None = None
    attempt: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {**self.pairing.to_dict(), "deadline_ms": self.deadline_ms,
                "checked_in": sorted(self.checked_in),
                "status": "playing" if self.ticket else "checkin",
                "room_id": self.ticket.room_id if self.ticket else None}


@dataclass(slots=True)
class Live:
    """A running tournament driven by this node."""

    row: dict[str, Any]
    comp: Competition
    feed: BracketFeed
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    runs: dict[str, MatchRun] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return str(self.row["id"])

    @property
    def status(self) -> str:
        return str(self.row["status"])

    def snapshot(self) -> dict[str, Any]:
        return {"t": "tournament_state", "tournament_id": self.id, "status": self.status,
                "name": self.row["name"], "format": self.row["format"],
                "view": self.comp.view(), "matches": [r.to_dict() for r in self.runs.values()]}


def _row_dict(row: Any) -> dict[str, Any]:
    out = dict(row)
    out["id"] = str(out["id"])
    for key in ("options", "competition", "settlement"):
        if isinstance(out.get(key), str):
            out[key] = json.loads(out[key])
    for key in ("series_id", "created_by"):
        if out.get(key) is not None:
            out[key] = str(out[key])
    return out


def public(row: dict[str, Any]) -> dict[str, Any]:
    """A tournament as players and admins read it (no internal columns)."""
    keys = ("id", "name", "format", "match_kind", "currency", "entry_fee_minor", "rake_bps",
            "guarantee_minor", "min_players", "max_players", "options", "status",
            "starts_at_ms", "checkin_ms", "recurrence", "series_id", "node", "settlement",
            "end_reason")
    return {k: row.get(k) for k in keys}


class TournamentService:
    def __init__(self, state: AppState, settings: TournamentSettings,
                 kinds: dict[str, MatchKind]) -> None:
        self.state = state
        self.settings = settings
        self.kinds = kinds
        self.node = state.settings.node_id
        self.live: dict[str, Live] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._stop = asyncio.Event()
        self.watching: dict[str, set[str]] = {}  # conn_id -> tournaments it watches

    # ----- life -----

    async def boot(self) -> None:
        """Resume the tournaments this node drives (new check-in windows), start the scheduler."""
        rows = await self.state.pool.fetch(
            "SELECT * FROM tournaments WHERE node = $1 AND status = ANY($2::text[])"
            " ORDER BY created_at LIMIT $3", self.node, list(LIVE), self.settings.max_live)
        for row in rows:
            t = _row_dict(row)
            if t.get("competition") is None:
                continue
            live = self._adopt(t, competitions.restore(t["competition"]))
            async with live.lock:
                await self._open_ready(live)
        self.state.spawn(self._scheduler(), "tournament-scheduler")

    async def stop(self) -> None:
        self._stop.set()
        for live in self.live.values():
            for run in live.runs.values():
                if run.timer is not None:
                    run.timer.cancel()
        for task in list(self._tasks):
            task.cancel()

    def _adopt(self, row: dict[str, Any], comp: Competition) -> Live:
        live = Live(row, comp, BracketFeed(row["id"], log_max=self.settings.feed_log_max,
                                           watchers_max=self.settings.watchers_max))
        self.live[live.id] = live
        return live

    def _spawn(self, coro: Any) -> None:
        if len(self._tasks) >= MAX_TASKS:
            log.error("tournament_tasks_full")
            coro.close()
            return
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)

        def done(t: asyncio.Task[Any]) -> None:
            self._tasks.discard(t)
            if not t.cancelled() and t.exception() is not None:
                log.error("tournament_task_failed", exc_info=t.exception())

        task.add_done_callback(done)

    def _lock(self, tid: str) -> asyncio.Lock:
        lock = self._locks.get(tid)
        if lock is None:
            if len(self._locks) > 10 * self.settings.max_live:
                self._locks = {k: v for k, v in self._locks.items() if v.locked()}
            lock = self._locks[tid] = asyncio.Lock()
        return lock

    # ----- reads -----

    async def get(self, tid: str, conn: Any = None, *, lock: bool = False) -> dict[str, Any]:
        try:
            key = uuid.UUID(tid)
        except ValueError:
            raise TournamentError("tournament_not_found", "There is no such tournament.") \
                from None
        sql = "SELECT * FROM tournaments WHERE id = $1" + (" FOR UPDATE" if lock else "")
        row = await (conn or self.state.pool).fetchrow(sql, key)
        if row is None:
            raise TournamentError("tournament_not_found", "There is no such tournament.")
        return _row_dict(row)

    async def entries(self, tid: str, conn: Any = None) -> list[dict[str, Any]]:
        rows = await (conn or self.state.pool).fetch(
            f"SELECT {ENTRY_COLUMNS}, (SELECT display_name FROM users u WHERE u.id = e.user_id)"
            " AS display_name FROM tournament_entries e WHERE tournament_id = $1"
            " ORDER BY seed NULLS LAST, registered_at_ms, user_id", uuid.UUID(tid))
        return [{**dict(r), "hold_id": str(r["hold_id"]) if r["hold_id"] else None}
                for r in rows]

    async def listing(self, statuses: list[str] | None, limit: int) -> list[dict[str, Any]]:
        limit = max(1, min(limit, self.settings.list_max))
        where = "status <> 'draft'" if statuses is None else "status = ANY($2::text[])"
        rows = await self.state.pool.fetch(
            "SELECT t.*, (SELECT count(*) FROM tournament_entries e WHERE e.tournament_id = t.id"
            " AND e.status IN ('registered', 'checked_in', 'playing', 'disqualified'))"
            f" AS entrants FROM tournaments t WHERE {where}"
            " ORDER BY coalesce(starts_at_ms, 0) DESC, created_at DESC LIMIT $1",
            *([limit] if statuses is None else [limit, statuses]))
        return [{**public(_row_dict(r)), "entrants": r["entrants"]} for r in rows]

    async def detail(self, tid: str) -> dict[str, Any]:
        """The tournament, its entrants and its bracket or table (from memory when live here)."""
        row = await self.get(tid)
        live = self.live.get(tid)
        if live is not None:
            view: dict[str, Any] | None = live.comp.view()
            matches = [r.to_dict() for r in live.runs.values()]
            seq = live.feed.seq
        else:
            comp = row.get("competition")
            view = competitions.restore(comp).view() if comp else None
            matches, seq = [], None
        return {"tournament": public(row), "entrants": await self.entries(tid), "view": view,
                "matches": matches, "seq": seq}

    # ----- admin: create and schedule -----

    async def create(self, admin_id: str | None, spec: dict[str, Any], *,
                     series_id: str | None = None, conn: Any = None) -> dict[str, Any]:
        """A new tournament (draft, or open for registration with `open`)."""
        fmt = spec["format"]
        if fmt not in competitions.FORMATS:
            raise TournamentError("invalid_format", "That tournament format is not offered.")
        if spec.get("match_kind", "quiz") not in self.kinds:
            raise TournamentError("invalid_match_kind", "That kind of match is not offered here.")
        if spec["max_players"] > self.settings.max_players:
            raise TournamentError("invalid_size",
                                  f"A tournament takes at most {self.settings.max_players}"
                                  " players.")
        options = dict(spec.get("options") or {})
        try:
            PrizeTable.from_dict(options.get("prize_table"))
        except (AssertionError, TypeError, ValueError) as exc:
            raise TournamentError("invalid_prize_table",
                                  "Each prize table row must share out exactly 100%.") from exc
        recurrence = spec.get("recurrence")
        if recurrence is not None:
            if not croniter.is_valid(recurrence) or spec.get("starts_at_ms") is None:
                raise TournamentError("invalid_recurrence",
                                      "A repeating tournament needs a start and a cron rule.")
        tid = str(uuid.uuid4())
        status = "registration" if spec.get("open") else "draft"

        async def insert(c: Any) -> None:
            await c.execute(
                "INSERT INTO tournaments (id, name, format, match_kind, currency, entry_fee_minor,"
                " rake_bps, guarantee_minor, min_players, max_players, options, status,"
                " starts_at_ms, checkin_ms, recurrence, series_id, node, created_by)"
                " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11::jsonb, $12, $13, $14,"
                " $15, $16, $17, $18)",
                uuid.UUID(tid), spec["name"], fmt, spec.get("match_kind", "quiz"),
                self.state.settings.currency, spec["entry_fee_minor"], spec["rake_bps"],
                spec.get("guarantee_minor", 0), spec["min_players"], spec["max_players"],
                options, status, spec.get("starts_at_ms"), spec.get("checkin_ms", 0),
                recurrence, uuid.UUID(series_id) if series_id else None, self.node,
                uuid.UUID(admin_id) if admin_id else None)
            if admin_id is not None:
                await audit(c, admin_id, "tournament.create", f"tournament:{tid}",
                            {"spec": {k: v for k, v in spec.items() if k != "options"},
                             "options": options})

        if conn is not None:
            await insert(conn)
        else:
            async with self.state.pool.acquire() as c, c.transaction():
                await insert(c)
        return await self.get(tid, conn)

    async def open(self, admin_id: str, tid: str) -> dict[str, Any]:
        async with self.state.pool.acquire() as conn, conn.transaction():
            t = await self.get(tid, conn, lock=True)
            if t["status"] != "draft":
                raise TournamentError("wrong_status", "Only a draft can be opened.")
            await conn.execute("UPDATE tournaments SET status = 'registration', updated_at = now()"
                               " WHERE id = $1", uuid.UUID(tid))
            await audit(conn, admin_id, "tournament.open", f"tournament:{tid}", {})
        return await self.get(tid)

    # ----- players: register, leave, check in -----

    def _hold_timeout_s(self, t: dict[str, Any]) -> int:
        now_ms = self.state.clock.now_ms()
        if t.get("starts_at_ms") is None:
            seconds = self.settings.unscheduled_hold_s
        else:
            seconds = max(0, (int(t["starts_at_ms"]) - now_ms) // 1000) + self.settings.hold_grace_s
        return max(3_600, min(money.MAX_HOLD_S, seconds))

    async def register(self, user_id: str, tid: str, rating: int = 0) -> dict[str, Any]:
        """Enter: the fee is held (or, joining a running Swiss late, paid at once)."""
        t = await self.get(tid)
        if t["status"] in LIVE:
            return await self._late_join(user_id, t, rating)
        async with self.state.pool.acquire() as conn, conn.transaction():
            t = await self.get(tid, conn, lock=True)
            if t["status"] != "registration":
                raise TournamentError("registration_closed", "Registration is not open.")
            entry = await conn.fetchrow(
                f"SELECT {ENTRY_COLUMNS} FROM tournament_entries WHERE tournament_id = $1"
                " AND user_id = $2", uuid.UUID(tid), uuid.UUID(user_id))
            if entry is not None and entry["status"] in ("registered", "checked_in"):
                return {"t": "tournament_registered", "tournament_id": tid,
                        "fee_minor": entry["fee_minor"], "replayed": True}
            if entry is not None and entry["status"] == "disqualified":
                raise TournamentError("disqualified", "You cannot enter this tournament.")
            count = await conn.fetchval(
                "SELECT count(*) FROM tournament_entries WHERE tournament_id = $1"
                " AND status IN ('registered', 'checked_in')", uuid.UUID(tid))
            if count >= t["max_players"]:
                raise TournamentError("tournament_full", "This tournament is full.")
            entry_no = (entry["entry_no"] + 1) if entry is not None else 1
            fee = int(t["entry_fee_minor"])
            hold_id = None
            if fee > 0:
                req = money.entry_hold(tid, user_id, entry_no, fee, t["currency"],
                                       self._hold_timeout_s(t))
                await self.state.ledger.apply(conn, [req])
                hold_id = req.id
            await conn.execute(
                "INSERT INTO tournament_entries (tournament_id, user_id, status, entry_no, hold_id,"
                " fee_minor, rating, registered_at_ms) VALUES ($1, $2, 'registered', $3, $4, $5,"
                " $6, $7) ON CONFLICT (tournament_id, user_id) DO UPDATE SET status = 'registered',"
                " entry_no = $3, hold_id = $4, fee_minor = $5, fee_posted = false, rating = $6,"
                " registered_at_ms = $7, seed = NULL, place = NULL, prize_minor = 0",
                uuid.UUID(tid), uuid.UUID(user_id), entry_no, hold_id, fee, rating,
                self.state.clock.now_ms())
        await self._announce(tid, {"event": "registered", "user_id": user_id})
        return {"t": "tournament_registered", "tournament_id": tid, "fee_minor": fee,
                "replayed": False}

    async def _late_join(self, user_id: str, t: dict[str, Any], rating: int) -> dict[str, Any]:
        tid = t["id"]
        live = self._local(tid)
        if t["format"] != "swiss":
            raise TournamentError("registration_closed", "This tournament has started.")
        async with live.lock:
            if user_id in live.comp.players:
                raise TournamentError("already_entered", "You are already in this tournament.")
            probe = competitions.restore(live.comp.state())
            assert isinstance(probe, competitions.Swiss)
            try:
                probe.add_player(user_id)
            except competitions.CompetitionError as exc:
                raise TournamentError(exc.code, "Late entries are closed.") from exc
            async with self.state.pool.acquire() as conn, conn.transaction():
                t = await self.get(tid, conn, lock=True)
                count = await conn.fetchval(
                    "SELECT count(*) FROM tournament_entries WHERE tournament_id = $1"
                    " AND status IN ('playing', 'disqualified')", uuid.UUID(tid))
                if count >= t["max_players"]:
                    raise TournamentError("tournament_full", "This tournament is full.")
                entry = await conn.fetchrow(
                    "SELECT entry_no FROM tournament_entries WHERE tournament_id = $1"
                    " AND user_id = $2", uuid.UUID(tid), uuid.UUID(user_id))
                entry_no = (entry["entry_no"] + 1) if entry is not None else 1
                fee = int(t["entry_fee_minor"])
                if fee > 0:
                    await self.state.ledger.apply(
                        conn, [money.late_fee(tid, user_id, entry_no, fee, t["currency"])])
                await conn.execute(
                    "INSERT INTO tournament_entries (tournament_id, user_id, status, entry_no,"
                    " fee_minor, fee_posted, rating, seed, registered_at_ms) VALUES ($1, $2,"
                    " 'playing', $3, $4, $5, $6, $7, $8) ON CONFLICT (tournament_id, user_id) DO"
                    " UPDATE SET status = 'playing', entry_no = $3, fee_minor = $4,"
                    " fee_posted = $5, seed = $7", uuid.UUID(tid), uuid.UUID(user_id),
                    entry_no, fee, fee > 0, rating, len(live.comp.players) + 1,
                    self.state.clock.now_ms())
                live.comp = probe
                await self._save(live, conn)
            live.feed.publish({"event": "late_join", "user_id": user_id})
        return {"t": "tournament_registered", "tournament_id": tid, "fee_minor": fee,
                "replayed": False, "late": True}

    async def leave(self, user_id: str, tid: str) -> dict[str, Any]:
        """Leave before the start: the held fee is released at once."""
        async with self.state.pool.acquire() as conn, conn.transaction():
            t = await self.get(tid, conn, lock=True)
            entry = await conn.fetchrow(
                f"SELECT {ENTRY_COLUMNS} FROM tournament_entries WHERE tournament_id = $1"
                " AND user_id = $2 FOR UPDATE", uuid.UUID(tid), uuid.UUID(user_id))
            if entry is None or entry["status"] not in ("registered", "checked_in"):
                raise TournamentError("not_entered", "You are not entered in this tournament.")
            if t["status"] not in OPEN:
                raise TournamentError("tournament_started",
                                      "The tournament has started; entries stand.")
            await self._void(conn, tid, "leave", [entry])
            await conn.execute("UPDATE tournament_entries SET status = 'left' WHERE"
                               " tournament_id = $1 AND user_id = $2", uuid.UUID(tid),
                               uuid.UUID(user_id))
        await self._announce(tid, {"event": "left", "user_id": user_id})
        return {"t": "tournament_left", "tournament_id": tid,
                "refunded_minor": entry["fee_minor"]}

    async def _void(self, conn: Any, tid: str, why: str, entries: list[Any]) -> None:
        holds = [e for e in entries if e["hold_id"] is not None and not e["fee_posted"]]
        gone = await money.resolved_holds(conn, [e["hold_id"] for e in holds])
        reqs = [money.release(tid, why, str(e["user_id"]), e["entry_no"], e["hold_id"])
                for e in holds if e["hold_id"] not in gone]
        if reqs:
            await self.state.ledger.apply(conn, reqs)

    async def checkin(self, user_id: str, tid: str) -> dict[str, Any]:
        """Check in: to the tournament during its check-in, or to your ready match."""
        t = await self.get(tid)
        if t["status"] in LIVE:
            return await self._match_checkin(user_id, tid)
        async with self.state.pool.acquire() as conn, conn.transaction():
            t = await self.get(tid, conn, lock=True)
            if t["status"] != "checkin":
                raise TournamentError("checkin_closed", "Check-in is not open.")
            done = await conn.fetchval(
                "UPDATE tournament_entries SET status = 'checked_in' WHERE tournament_id = $1"
                " AND user_id = $2 AND status IN ('registered', 'checked_in') RETURNING 1",
                uuid.UUID(tid), uuid.UUID(user_id))
        if done is None:
            raise TournamentError("not_entered", "You are not entered in this tournament.")
        await self._announce(tid, {"event": "checked_in", "user_id": user_id})
        return {"t": "tournament_checked_in", "tournament_id": tid, "match_id": None}

    async def _announce(self, tid: str, event: dict[str, Any]) -> None:
        live = self.live.get(tid)
        if live is not None:
            live.feed.publish(event)

    # ----- start -----

    async def open_checkin(self, tid: str) -> None:
        async with self.state.pool.acquire() as conn, conn.transaction():
            t = await self.get(tid, conn, lock=True)
            if t["status"] != "registration":
                return
            await conn.execute("UPDATE tournaments SET status = 'checkin', updated_at = now()"
                               " WHERE id = $1", uuid.UUID(tid))
            entries = await conn.fetch(
                "SELECT user_id::text AS user_id FROM tournament_entries WHERE tournament_id = $1"
                " AND status = 'registered'", uuid.UUID(tid))
        for e in entries:
            await self._push(e["user_id"], {"t": "tournament_checkin_open", "tournament_id": tid,
                                             "starts_at_ms": t["starts_at_ms"]})

    async def start(self, tid: str, admin_id: str | None = None) -> dict[str, Any]:
        """Close entries: drop (and refund) who did not check in, pay the fees, pair round one.

        Too few players left: the tournament is cancelled and everyone refunded.
        """
        if not self._drives(await self.get(tid)):
            raise TournamentError("wrong_node", "Another server runs this tournament.")
        async with self._lock(tid):
            if tid in self.live:
                return public(self.live[tid].row)
            async with self.state.pool.acquire() as conn, conn.transaction():
                t = await self.get(tid, conn, lock=True)
                if t["status"] not in OPEN:
                    raise TournamentError("wrong_status", "Only an open tournament can start.")
                rows = await conn.fetch(
                    f"SELECT {ENTRY_COLUMNS} FROM tournament_entries WHERE tournament_id = $1"
                    " AND status IN ('registered', 'checked_in')"
                    " ORDER BY rating DESC, registered_at_ms, user_id", uuid.UUID(tid))
                expired = await money.resolved_holds(
                    conn, [r["hold_id"] for r in rows if r["hold_id"] is not None])
                need_checkin = int(t["checkin_ms"]) > 0
                players = [r for r in rows if (r["status"] == "checked_in" or not need_checkin)
                           and r["hold_id"] not in expired]
                dropped = [r for r in rows if r not in players]
                if len(players) < t["min_players"]:
                    await self._cancel_tx(conn, t, "too_few_players", admin_id)
                    t = await self.get(tid, conn)
                    cancelled = True
                else:
                    cancelled = False
                    await self._void(conn, tid, "drop", dropped)
                    posts = [money.post_fee(tid, r["user_id"], r["entry_no"], r["hold_id"])
                             for r in players if r["hold_id"] is not None]
                    if posts:
                        await self.state.ledger.apply(conn, posts)
                    order = [r["user_id"] for r in players]
                    comp = competitions.create(t["format"], order, t["options"])
                    await conn.executemany(
                        "UPDATE tournament_entries SET status = $3, seed = $4,"
                        " fee_posted = (fee_minor > 0 AND $3 = 'playing')"
                        " WHERE tournament_id = $1 AND user_id = $2",
                        [(uuid.UUID(tid), uuid.UUID(r["user_id"]), "playing", i + 1, )
                         for i, r in enumerate(players)]
                        + [(uuid.UUID(tid), uuid.UUID(r["user_id"]), "dropped", None)
                           for r in dropped])
                    await conn.execute(
                        "UPDATE tournaments SET status = 'running', competition = $2::jsonb,"
                        " updated_at = now() WHERE id = $1", uuid.UUID(tid),
                        comp.state())
                    if admin_id is not None:
                        await audit(conn, admin_id, "tournament.start", f"tournament:{tid}",
                                    {"players": len(players), "dropped": len(dropped)})
                    t = await self.get(tid, conn)
            if cancelled:
                await self._after_cancel(t, None)
                return public(t)
            for r in dropped:
                await self._push(r["user_id"], {"t": "tournament_dropped", "tournament_id": tid,
                                                "refunded_minor": r["fee_minor"]})
            live = self._adopt(t, comp)
            async with live.lock:
                live.feed.publish({"event": "started", "players": order,
                                   "byes": [{"round": r, "user_id": p}
                                            for r, p in comp.byes()]})
                await self._open_ready(live)
            return public(t)

    def _drives(self, t: dict[str, Any]) -> bool:
        return bool(t["node"] == self.node)

    def _local(self, tid: str) -> Live:
        live = self.live.get(tid)
        if live is None:
            raise TournamentError("wrong_node", "This tournament is not running on this server.")
        return live

    # ----- matches -----

    async def _open_ready(self, live: Live) -> None:
        """Give every newly ready match its check-in window (not while paused)."""
        if live.status != "running":
            return
        now = self.state.clock.now_ms()
        window = int(live.row["options"].get("match_checkin_ms",
                                             self.settings.match_checkin_ms))
        alerts: list[OutboxMessage] = []
        for m in live.comp.ready():
            if m.match_id in live.runs:
                continue
            run = MatchRun(m, now + window)
            live.runs[m.match_id] = run
            self._arm(live, run)
            live.feed.publish({"event": "match_ready", "match": run.to_dict()})
            for me in (m.a, m.b):
                await self._push(me, {"t": "tournament_match_ready", "tournament_id": live.id,
                                      "match_id": m.match_id, "round": m.round,
                                      "bracket": m.bracket, "opponent": m.other(me),
                                      "checkin_deadline_ms": run.deadline_ms})
                alerts.append(self._alert(live, me, "tournament_match_ready", m.match_id, {
                    "text": f"Your match in {live.row['name']} is ready. Open Matchpot and"
                            " check in to play.", "match_id": m.match_id}))
        await self._enqueue(alerts)

    def _arm(self, live: Live, run: MatchRun) -> None:
        tid, mid = live.id, run.pairing.match_id
        run.timer = self.state.clock.call_at(
            run.deadline_ms, lambda: self._spawn(self._checkin_expired(tid, mid)))

    async def _match_checkin(self, user_id: str, tid: str) -> dict[str, Any]:
        live = self._local(tid)
        async with live.lock:
            run = next((r for r in live.runs.values() if r.pairing.has(user_id)), None)
            if run is None:
                raise TournamentError("no_match_ready", "You have no match waiting right now.")
            if run.ticket is None and user_id not in run.checked_in:
                run.checked_in.add(user_id)
                live.feed.publish({"event": "checked_in", "match_id": run.pairing.match_id,
                                   "user_id": user_id})
                if len(run.checked_in) == 2:
                    await self._begin(live, run)
            return {"t": "tournament_checked_in", "tournament_id": tid,
                    "match_id": run.pairing.match_id,
                    "room_id": run.ticket.room_id if run.ticket else None,
                    "game": run.ticket.game if run.ticket else None}

    async def _begin(self, live: Live, run: MatchRun) -> None:
        """Both checked in: open the match's room and tell them where to sit."""
        if run.timer is not None:
            run.timer.cancel()
            run.timer = None
        run.attempt += 1
        kind = self.kinds[live.row["match_kind"]]
        m = run.pairing
        try:
            ticket = kind.start(live.id, m.match_id, run.attempt, m.a, m.b, live.row["currency"])
        except Exception:
            log.exception("tournament_match_start_failed", tournament=live.id, match=m.match_id)
            run.deadline_ms = self.state.clock.now_ms() + 5_000
            self._arm(live, run)  # try again at the next deadline (decided by check-in then)
            return
        run.ticket = ticket
        live.feed.publish({"event": "match_started", "match": run.to_dict()})
        for me in (m.a, m.b):
            await self._push(me, {"t": "tournament_match_started", "tournament_id": live.id,
                                  "match_id": m.match_id, "room_id": ticket.room_id,
                                  "game": ticket.game, "node": ticket.node})
        self._spawn(self._await_outcome(live.id, m.match_id, ticket))

    async def _await_outcome(self, tid: str, mid: str, ticket: MatchTicket) -> None:
        live = self.live.get(tid)
        if live is None:
            return
        outcome = await self.kinds[live.row["match_kind"]].outcome(ticket)
        async with live.lock:
            run = live.runs.get(mid)
            if run is None or run.ticket != ticket or self.live.get(tid) is not live:
                return  # decided meanwhile (disqualification, admin ruling, end)
            if outcome.aborted and run.attempt < self.settings.match_attempts \
                    and not self._stop.is_set():
                run.ticket = None
                await self._begin(live, run)
                return
            result, out = self._judge(live, run.pairing, outcome)
            await self._decide(live, mid, result, out)

    def _judge(self, live: Live, m: Pairing, outcome: MatchOutcome) \
            -> tuple[Result, list[str]]:
        """A room's outcome as a result, and who is withdrawn for not showing up."""
        elimination = isinstance(live.comp, competitions.Elimination)
        better = min(m.a, m.b, key=live.comp.seed_of)
        if outcome.winner is not None:
            return Result(outcome.winner), []
        if outcome.result == "no_show" or (len(outcome.joined) < 2 and not outcome.aborted):
            if len(outcome.joined) == 1:
                (here,) = outcome.joined
                return Result(here, forfeit=True), [m.other(here)]
            return Result(better if elimination else None, forfeit=True), [m.a, m.b]
        # A tie (or a room that could not be played): elimination needs a winner.
        return Result(better if elimination else None), []

    async def _checkin_expired(self, tid: str, mid: str) -> None:
        live = self.live.get(tid)
        if live is None:
            return
        async with live.lock:
            run = live.runs.get(mid)
            if run is None or run.ticket is not None:
                return
            if live.status != "running":  # paused: the window waits for the resume
                run.deadline_ms = self.state.clock.now_ms() + \
                    int(live.row["options"].get("match_checkin_ms",
                                                self.settings.match_checkin_ms))
                self._arm(live, run)
                return
            m = run.pairing
            if len(run.checked_in) == 1:
                (here,) = run.checked_in
                await self._decide(live, mid, Result(here, forfeit=True), [m.other(here)])
            else:
                elimination = isinstance(live.comp, competitions.Elimination)
                better = min(m.a, m.b, key=live.comp.seed_of)
                await self._decide(live, mid, Result(better if elimination else None,
                                                     forfeit=True), [m.a, m.b])

    async def _decide(self, live: Live, mid: str, result: Result,
                      withdraw: list[str] | None = None) -> None:
        """Record a result (and withdrawals), store the state, announce, go on or finish."""
        decided = live.comp.report(mid, result)
        for player in withdraw or []:
            if player not in live.comp.withdrawn:
                decided += live.comp.withdraw(player)
        await self._settle_decided(live, decided)

    async def _settle_decided(self, live: Live, decided: list[tuple[str, Result]]) -> None:
        await self._save(live)
        standings_alive = set(live.comp.alive())
        for mid, result in decided:
            run = live.runs.pop(mid, None)
            if run is not None:
                await self._close_run(live, run, "decided")
            pairing = run.pairing if run is not None else self._pairing(live, mid)
            live.feed.publish({"event": "match_result", "match_id": mid,
                               "winner": result.winner, "forfeit": result.forfeit,
                               "a": pairing.a if pairing else None,
                               "b": pairing.b if pairing else None})
            if pairing is None:
                continue
            for me in (pairing.a, pairing.b):
                await self._push(me, {
                    "t": "tournament_match_result", "tournament_id": live.id, "match_id": mid,
                    "winner": result.winner, "forfeit": result.forfeit,
                    "advanced": me in standings_alive or me == result.winner,
                })
        if live.comp.finished:
            await self._finish(live, "finished", None)
        else:
            await self._open_ready(live)

    def _pairing(self, live: Live, mid: str) -> Pairing | None:
        return next((m for m, _ in live.comp.played() if m.match_id == mid), None)

    async def _close_run(self, live: Live, run: MatchRun, reason: str) -> None:
        if run.timer is not None:
            run.timer.cancel()
            run.timer = None
        if run.ticket is not None:
            ticket, run.ticket = run.ticket, None
            with contextlib.suppress(Exception):
                await self.kinds[live.row["match_kind"]].cancel(ticket, reason)

    async def _save(self, live: Live, conn: Any = None) -> None:
        await (conn or self.state.pool).execute(
            "UPDATE tournaments SET competition = $2::jsonb, updated_at = now() WHERE id = $1",
            uuid.UUID(live.id), live.comp.state())

    async def seat(self, user_id: str, tid: str) -> MatchTicket:
        """Where the player's started match is (the gateway seats the connection)."""
        live = self._local(tid)
        run = next((r for r in live.runs.values() if r.pairing.has(user_id)), None)
        if run is None or run.ticket is None:
            raise TournamentError("no_match_started", "Your match has not started yet.")
        return run.ticket

    # ----- the end: prizes or refunds -----

    async def _finish(self, live: Live, reason: str, admin_id: str | None) -> None:
        """Pay the prizes by the standings: one linked batch, in the status change's transaction."""
        for run in list(live.runs.values()):
            await self._close_run(live, run, reason)
        live.runs.clear()
        tid = live.id
        async with self.state.pool.acquire() as conn, conn.transaction():
            t = await self.get(tid, conn, lock=True)
            if t["status"] in ENDED:
                return
            rows = await conn.fetch(
                f"SELECT {ENTRY_COLUMNS} FROM tournament_entries WHERE tournament_id = $1"
                " AND status IN ('playing', 'disqualified')", uuid.UUID(tid))
            fees = sum(int(r["fee_minor"]) for r in rows if r["fee_posted"])
            out = {r["user_id"] for r in rows if r["status"] == "disqualified"}
            standings = [g for g in ([p for p in group if p not in out]
                                     for group in live.comp.standings()) if g]
            table = PrizeTable.from_dict(t["options"].get("prize_table"))
            fund = competitions.prize_fund(fees, int(t["rake_bps"]), int(t["guarantee_minor"]))
            alloc = competitions.allocate(fund.fund_minor,
                                          table.weights(len(live.comp.players)), standings)
            alerts = [self._alert(live, uid, "tournament_prize", None, {
                "text": f"You placed {alloc.places[uid]} in {t['name']}:"
                        f" {amount_text(self.state.settings, amount)} added to your balance.",
                "amount_minor": amount, "currency": t["currency"]})
                for uid, amount in sorted(alloc.prizes_minor.items())]
            reqs = money.payout_batch(tid, fund, alloc, t["currency"])
            if reqs or alerts:
                await self.state.ledger.apply(conn, reqs, outbox=alerts)
            await conn.executemany(
                "UPDATE tournament_entries SET place = $3, prize_minor = $4"
                " WHERE tournament_id = $1 AND user_id = $2",
                [(uuid.UUID(tid), uuid.UUID(uid), place, alloc.prizes_minor.get(uid, 0))
                 for uid, place in alloc.places.items()])
            settlement = {"fees_minor": fund.fees_minor, "rake_minor": fund.rake_minor,
                          "overlay_minor": fund.overlay_minor, "fund_minor": fund.fund_minor,
                          "remainder_minor": alloc.remainder_minor,
                          "prizes_minor": alloc.prizes_minor, "places": alloc.places}
            await conn.execute(
                "UPDATE tournaments SET status = 'finished', competition = $2::jsonb,"
                " settlement = $3::jsonb, end_reason = $4, updated_at = now() WHERE id = $1",
                uuid.UUID(tid), live.comp.state(), settlement, reason)
            if admin_id is not None:
                await audit(conn, admin_id, "tournament.end", f"tournament:{tid}",
                            {"mode": "pay", "reason": reason})
        live.row = {**live.row, "status": "finished", "settlement": settlement}
        live.feed.publish({"event": "finished", "reason": reason, "standings": standings,
                           "prizes_minor": alloc.prizes_minor, "places": alloc.places})
        for uid, place in alloc.places.items():
            await self._push(uid, {"t": "tournament_finished", "tournament_id": tid,
                                   "place": place,
                                   "prize_minor": alloc.prizes_minor.get(uid, 0),
                                   "currency": t["currency"]})
        self.live.pop(tid, None)

    async def cancel(self, tid: str, reason: str, admin_id: str | None) -> dict[str, Any]:
        """Stop at any stage before the end: every fee returns, exactly once."""
        t = await self.get(tid)
        live = self.live.get(tid)
        if t["status"] in LIVE and live is None:
            raise TournamentError("wrong_node", "Another server runs this tournament.")
        async with (live.lock if live is not None else self._lock(tid)):
            if live is not None:
                for run in list(live.runs.values()):
                    await self._close_run(live, run, "cancelled")
                live.runs.clear()
            async with self.state.pool.acquire() as conn, conn.transaction():
                t = await self.get(tid, conn, lock=True)
                if t["status"] in ENDED:
                    raise TournamentError("wrong_status", "This tournament has already ended.")
                refunded = await self._cancel_tx(conn, t, reason, admin_id)
                t = await self.get(tid, conn)
            await self._after_cancel(t, refunded)
        return public(t)

    async def _cancel_tx(self, conn: Any, t: dict[str, Any], reason: str,
                         admin_id: str | None) -> list[tuple[str, int]]:
        tid = t["id"]
        rows = await conn.fetch(
            f"SELECT {ENTRY_COLUMNS} FROM tournament_entries WHERE tournament_id = $1"
            " AND status IN ('registered', 'checked_in', 'playing', 'disqualified')",
            uuid.UUID(tid))
        await self._void(conn, tid, "cancel", [r for r in rows if not r["fee_posted"]])
        fees = [(r["user_id"], int(r["fee_minor"])) for r in rows if r["fee_posted"]]
        reqs = money.refunds(tid, fees, t["currency"])
        if reqs:
            await self.state.ledger.apply(conn, reqs)
        await conn.execute(
            "UPDATE tournament_entries SET status = 'refunded' WHERE tournament_id = $1"
            " AND status IN ('registered', 'checked_in', 'playing', 'disqualified')",
            uuid.UUID(tid))
        await conn.execute(
            "UPDATE tournaments SET status = 'cancelled', end_reason = $2, updated_at = now()"
            " WHERE id = $1", uuid.UUID(tid), reason)
        if admin_id is not None:
            await audit(conn, admin_id, "tournament.cancel", f"tournament:{tid}",
                        {"reason": reason, "refunds": len(rows)})
        return [(r["user_id"], int(r["fee_minor"])) for r in rows]

    async def _after_cancel(self, t: dict[str, Any], refunded: list[tuple[str, int]] | None) \
            -> None:
        tid = t["id"]
        live = self.live.pop(tid, None)
        if live is not None:
            live.row = {**live.row, "status": "cancelled"}
            live.feed.publish({"event": "cancelled", "reason": t.get("end_reason")})
        if refunded is None:
            refunded = [(e["user_id"], int(e["fee_minor"])) for e in await self.entries(tid)
                        if e["status"] == "refunded"]
        for uid, fee in refunded:
            await self._push(uid, {"t": "tournament_cancelled", "tournament_id": tid,
                                   "reason": t.get("end_reason"), "refunded_minor": fee,
                                   "currency": t["currency"]})

    # ----- admin: pause, end, results, disqualify -----

    async def set_paused(self, admin_id: str, tid: str, paused: bool) -> dict[str, Any]:
        live = self._local(tid)
        async with live.lock:
            want, was = ("paused", "running") if paused else ("running", "paused")
            if live.status != was:
                raise TournamentError("wrong_status", f"The tournament is not {was}.")
            async with self.state.pool.acquire() as conn, conn.transaction():
                await conn.execute("UPDATE tournaments SET status = $2, updated_at = now()"
                                   " WHERE id = $1", uuid.UUID(tid), want)
                await audit(conn, admin_id, "tournament.pause" if paused else "tournament.resume",
                            f"tournament:{tid}", {})
            live.row = {**live.row, "status": want}
            live.feed.publish({"event": want})
            if not paused:
                await self._open_ready(live)
        return public(live.row)

    async def end(self, admin_id: str, tid: str, mode: str, reason: str) -> dict[str, Any]:
        """End early: pay by the current standings, or refund everyone."""
        if mode == "refund":
            return await self.cancel(tid, reason, admin_id)
        live = self._local(tid)
        async with live.lock:
            await self._finish(live, "ended_early", admin_id)
        return public(await self.get(tid))

    async def replace_result(self, admin_id: str, tid: str, match_id: str,
                             winner: str | None, reason: str) -> dict[str, Any]:
        """Set or correct a match's result (refused once a later match depends on it)."""
        live = self._local(tid)
        async with live.lock:
            before = live.comp.state()
            open_matches = {r.pairing.match_id: r.pairing for r in live.runs.values()}
            try:
                if match_id in open_matches:
                    decided = live.comp.report(match_id, Result(winner))
                else:
                    decided = live.comp.replace(match_id, Result(winner))
            except competitions.CompetitionError as exc:
                raise TournamentError(exc.code, _sentence(exc.message)) from exc
            ready = {m.match_id: m for m in live.comp.ready()}
            moved = [mid for mid, p in open_matches.items()
                     if mid != match_id and mid not in {d for d, _ in decided}
                     and ready.get(mid) != p]
            if moved:
                live.comp = competitions.restore(before)
                raise TournamentError("result_locked", "A later match has already started.")
            async with self.state.pool.acquire() as conn, conn.transaction():
                await audit(conn, admin_id, "tournament.result", f"tournament:{tid}",
                            {"match_id": match_id, "winner": winner, "reason": reason})
            live.feed.publish({"event": "result_replaced", "match_id": match_id,
                               "winner": winner})
            await self._settle_decided(live, decided)
        return {"match_id": match_id, "winner": winner}

    async def disqualify(self, admin_id: str, tid: str, user_id: str, reason: str) \
            -> dict[str, Any]:
        t = await self.get(tid)
        if t["status"] in OPEN:
            async with self.state.pool.acquire() as conn, conn.transaction():
                entry = await conn.fetchrow(
                    f"SELECT {ENTRY_COLUMNS} FROM tournament_entries WHERE tournament_id = $1"
                    " AND user_id = $2 AND status IN ('registered', 'checked_in') FOR UPDATE",
                    uuid.UUID(tid), uuid.UUID(user_id))
                if entry is None:
                    raise TournamentError("not_entered", "That player is not entered.")
                await self._void(conn, tid, "leave", [entry])
                await conn.execute("UPDATE tournament_entries SET status = 'disqualified'"
                                   " WHERE tournament_id = $1 AND user_id = $2",
                                   uuid.UUID(tid), uuid.UUID(user_id))
                await audit(conn, admin_id, "tournament.disqualify", f"tournament:{tid}",
                            {"user_id": user_id, "reason": reason, "refunded": True})
            return {"user_id": user_id, "refunded_minor": entry["fee_minor"]}
        live = self._local(tid)
        async with live.lock:
            if user_id not in live.comp.players:
                raise TournamentError("not_entered", "That player is not entered.")
            async with self.state.pool.acquire() as conn, conn.transaction():
                await conn.execute("UPDATE tournament_entries SET status = 'disqualified'"
                                   " WHERE tournament_id = $1 AND user_id = $2",
                                   uuid.UUID(tid), uuid.UUID(user_id))
                await audit(conn, admin_id, "tournament.disqualify", f"tournament:{tid}",
                            {"user_id": user_id, "reason": reason, "refunded": False})
            decided = live.comp.withdraw(user_id)
            live.feed.publish({"event": "disqualified", "user_id": user_id})
            await self._settle_decided(live, decided)
        return {"user_id": user_id, "refunded_minor": 0}

    # ----- watching -----

    def watch(self, conn_id: str, tid: str, send: Send, since_seq: int | None) -> dict[str, Any]:
        live = self._local(tid)
        if live.feed.full(conn_id):
            raise TournamentError("watchers_full", "Too many people are watching; try later.")
        mine = self.watching.setdefault(conn_id, set())
        if len(mine) >= 16 and tid not in mine:
            raise TournamentError("watching_too_many", "Watch at most 16 tournaments at once.")
        mine.add(tid)
        resumed = live.feed.watch(conn_id, send, live.snapshot(), since_seq)
        return {"t": "tournament_watching", "tournament_id": tid, "seq": live.feed.seq,
                "resumed": resumed}

    def unwatch(self, conn_id: str, tid: str | None = None) -> None:
        for t in ([tid] if tid else list(self.watching.get(conn_id, ()))):
            live = self.live.get(t)
            if live is not None:
                live.feed.unwatch(conn_id)
            self.watching.get(conn_id, set()).discard(t)
        if not self.watching.get(conn_id):
            self.watching.pop(conn_id, None)

    # ----- scheduling -----

    async def _scheduler(self) -> None:
        """Open check-in, start at the scheduled time, and create each repeating occurrence."""
        interval = self.settings.scheduler_interval_s
        assert interval > 0
        while not self._stop.is_set():
            try:
                await self.tick()
            except Exception:
                log.exception("tournament_scheduler_failed")
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(interval):
                    await self._stop.wait()

    async def tick(self) -> None:
        """One pass of the scheduler (tests call it directly)."""
        now = self.state.clock.now_ms()
        due = await self.state.pool.fetch(
            "SELECT id::text AS id, status, starts_at_ms, checkin_ms FROM tournaments"
            " WHERE node = $1 AND status = ANY($2::text[]) AND starts_at_ms IS NOT NULL"
            " AND starts_at_ms - checkin_ms <= $3 ORDER BY starts_at_ms LIMIT $4",
            self.node, list(OPEN), now, SCHEDULER_BATCH)
        for row in due:
            try:
                if now >= row["starts_at_ms"]:
                    await self.start(row["id"])
                elif row["status"] == "registration":
                    await self.open_checkin(row["id"])
            except TournamentError as exc:
                log.warning("tournament_scheduled_step_refused", tournament=row["id"],
                            code=exc.code)
        repeating = await self.state.pool.fetch(
            "SELECT * FROM tournaments WHERE node = $1 AND recurrence IS NOT NULL"
            " AND NOT next_created AND status NOT IN ('draft', 'registration', 'checkin')"
            " LIMIT $2", self.node, SCHEDULER_BATCH)
        for row in repeating:
            await self._next_occurrence(_row_dict(row))

    async def _next_occurrence(self, t: dict[str, Any]) -> None:
        base = datetime.fromtimestamp(int(t["starts_at_ms"]) / 1000, tz=UTC)
        nxt = croniter(t["recurrence"], base).get_next(datetime)
        starts_at_ms = int(nxt.timestamp() * 1000)
        spec = {k: t[k] for k in ("name", "format", "match_kind", "entry_fee_minor", "rake_bps",
                                  "guarantee_minor", "min_players", "max_players", "options",
                                  "checkin_ms", "recurrence")}
        spec.update(starts_at_ms=starts_at_ms, open=True)
        series = t.get("series_id") or t["id"]
        async with self.state.pool.acquire() as conn, conn.transaction():
            flagged = await conn.fetchval(
                "UPDATE tournaments SET next_created = true WHERE id = $1 AND NOT next_created"
                " RETURNING 1", uuid.UUID(t["id"]))
            if flagged is None:
                return
            exists = await conn.fetchval(
                "SELECT 1 FROM tournaments WHERE series_id = $1 AND starts_at_ms = $2",
                uuid.UUID(series), starts_at_ms)
            if exists is None:
                await self.create(None, spec, series_id=series, conn=conn)
            if t.get("series_id") is None:
                await conn.execute("UPDATE tournaments SET series_id = $1 WHERE id = $1",
                                   uuid.UUID(series))

    # ----- reaching players -----

    async def _push(self, user_id: str, frame: dict[str, Any]) -> None:
        with contextlib.suppress(Exception):
            await publish_to_user(self.state, user_id, frame)

    def _alert(self, live: Live, user_id: str, kind: str, match_id: str | None,
               payload: dict[str, Any]) -> OutboxMessage:
        return OutboxMessage(
            id=transfer_id(live.id, "alert", kind, user_id, match_id or "-"),
            channel=ALERT_CHANNEL, recipient=user_id, kind=kind,
            payload={"tournament_id": live.id, **payload})

    async def _enqueue(self, alerts: list[OutboxMessage]) -> None:
        """Alerts are a courtesy: the websocket told the player already."""
        if not alerts:
            return
        from ledger import outbox

        try:
            async with self.state.pool.acquire() as conn, conn.transaction():
                await outbox.enqueue(conn, alerts)
        except Exception:
            log.exception("tournament_alerts_failed", count=len(alerts))


def _sentence(text: str) -> str:
    text = text.strip()
    return (text[0].upper() + text[1:] + ("" if text.endswith(".") else ".")) if text else text


TOURNAMENTS: Slot[TournamentService] = Slot("tournaments", TournamentService)
