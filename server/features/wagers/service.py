"""The durable wager match: its Postgres row, its live room, its settlement, its resumption.

Choice for restarts (docs/wagers.md, "When a node stops"): a wager lives for
hours, so it is never refunded because a node went away. The match row is
written in the transaction that holds both stakes; the room journals every
change into it (`PgJournal`); when a node drains, the runtime's abort refund of
a wager room is declined (`WagerSettler`), so the holds stay and the row says
where the match stood. The node itself (after a restart), or any node once the
owner's heartbeat is gone, resumes the room from the row: deadlines are
absolute, so a window that ran out meanwhile fires at once, and a ruling an
admin made while no room was live is delivered on resumption. The play
reaper never sees wager rooms (they are not recorded with it).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from typing import Any

import structlog

from ledger import Ledger, TransferRequest
from rooms.api import Outcome, Settled, Signal
from rooms.errors import RoomError
from rooms.games.wager import NAME as WAGER_GAME
from rooms.games.wager import bind_journal, unbind_journal
from rooms.ledger_settlement import LedgerSettlement
from rooms.runtime import Room
from rooms.settlement import SettlementDeferred, Settler
from rooms.types import HeldStake, MatchSpec
from server.errors import ApiError
from server.features.play.service import PlayService
from server.features.wagers import alerts
from server.features.wagers.alerts import Alert
from server.features.wagers.settings import WagersSettings
from server.features.wagers.standings import record_settlement
from server.gateway.events import publish_to_user
from server.state import AppState, Slot
from server.storage import LocalStorage, Storage

log = structlog.get_logger(__name__)

MAX_ADOPT = 100
RESUME_MEMORY = 10_000


def lobby_key(prefix: str) -> str:
    """ZSET of lobby watchers (user id -> watch end, ms); one per deployment."""
    return f"{prefix}:wager:lobby:watchers"


class LobbyFull(Exception):
    """Too many players watch the live lobby at once."""


class MatchSuspended(SettlementDeferred):
    """A wager room stopped without a decision: its stakes stay held until it resumes."""


class JournalLost(Exception):
    """The match row is no longer this node's (another node adopted it) or is settled."""


def holds_json(seats: Sequence[HeldStake]) -> str:
    return json.dumps([{"user_id": s.user_id, "hold_id": str(s.hold_id),
                        "stake_minor": s.stake_minor, "currency": s.currency} for s in seats])


def seats_of(holds: Any) -> tuple[HeldStake, ...]:
    items = json.loads(holds) if isinstance(holds, str) else holds
    return tuple(HeldStake(h["user_id"], uuid.UUID(h["hold_id"]), int(h["stake_minor"]),
                           h["currency"]) for h in items)


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


class PgJournal:
    """The wager room's journal: one UPDATE per change, alerts to the other player."""

    def __init__(self, service: WagerService) -> None:
        self.service = service

    async def record(self, room_id: str, state: Mapping[str, Any],
                     event: Mapping[str, Any]) -> None:
        svc = self.service
        kind = event.get("type")
        sent: list[Alert] = []
        async with svc.state.pool.acquire() as conn, conn.transaction():
            status = await conn.fetchval(
                "UPDATE wager_matches SET state = $2::jsonb, updated_at = now(),"
                " status = CASE WHEN $4 THEN 'disputed' ELSE status END"
                " WHERE room_id = $1 AND node = $3 AND status <> 'settled' RETURNING status",
                room_id, json.dumps(dict(state)), svc.node_id, kind == "disputed")
            if status is None:
                raise JournalLost(f"match {room_id} is not this node's to change")
            if kind == "disputed":
                await conn.execute(
                    "INSERT INTO wager_disputes (room_id, opened_by) VALUES ($1, $2)"
                    " ON CONFLICT (room_id) DO NOTHING", room_id, event.get("by"))
                text = ("Your wager match is in dispute; an admin will review the reports"
                        " and evidence.")
                sent = [Alert(uid, "wager_dispute_opened", room_id, "dispute", text,
                              {"reason": event.get("reason")}) for uid in event["players"]]
            elif kind in ("ready", "reported", "cancel_requested"):
                other = str(event["other"])
                text = {
                    "ready": "Your opponent is ready for your wager match.",
                    "reported": (f"Your opponent reported that they {event.get('result')};"
                                 " confirm or dispute it in the match room."),
                    "cancel_requested": "Your opponent asked to cancel your wager match.",
                }[kind]
                alert_kind = {"ready": "wager_opponent_ready",
                              "reported": "wager_opponent_reported",
                              "cancel_requested": "wager_cancel_requested"}[kind]
                sent = [Alert(other, alert_kind, room_id, kind, text)]
            if sent:
                await alerts.enqueue(conn, sent)
        await alerts.push(svc.state, sent)


class _SettlingLedger:
    """The ledger inside a wager settlement: the money, then the match's other consequences."""

    def __init__(self, service: WagerService, spec: MatchSpec, outcome: Outcome) -> None:
        self.service, self.spec, self.outcome = service, spec, outcome
        self.recorded = False

    async def apply(self, conn: Any, reqs: Sequence[TransferRequest], *,
                    outbox: Sequence[Any] = ()) -> Any:
        svc = self.service
        result = await svc.state.ledger.apply(conn, reqs, outbox=outbox)
        self.recorded = await record_settlement(conn, self.spec, self.outcome,
                                                svc.state.clock.now_ms(), svc.settings)
        if self.recorded:
            await alerts.enqueue(conn, svc.result_alerts(self.spec, self.outcome))
        return result


class WagerSettler:
    """The play service's Settler with wager rooms settled here (everything else passes on).

    A wager outcome commits its money, ratings, stats, reliability and match
    row in one transaction. The runtime's own abort refund (`aborted`) of a
    wager match still open is declined: the match is resumed, not refunded.
    """

    def __init__(self, inner: Settler, service: WagerService) -> None:
        self.inner = inner
        self.service = service

    async def settle(self, spec: MatchSpec, outcome: Outcome) -> Settled:
        if spec.game != WAGER_GAME:
            return await self.inner.settle(spec, outcome)
        return await self.service.settle(spec, outcome)


class WagerService:
    """One node's wager matches."""

    def __init__(self, state: AppState, play: PlayService, settings: WagersSettings) -> None:
        self.state = state
        self.play = play
        self.settings = settings
        self.node_id = state.settings.node_id
        kind = play.kinds.get(WAGER_GAME)
        assert kind is not None, "the wagers feature needs rooms.games.wager in MATCHPOT_GAMES"
        self.room_settings = kind.settings
        self.journal = PgJournal(self)
        self.storage: Storage = LocalStorage(state.settings.data_dir / "uploads")
        self.queues: Any = None  # WagerQueues, set by the feature at start-up
        self._resumed_at: OrderedDict[str, int] = OrderedDict()
        self._stop = asyncio.Event()
        self._lock = asyncio.Lock()

    @property
    def ledger(self) -> Ledger:
        return self.state.ledger

    @property
    def fee_bps(self) -> int:
        return int(self.room_settings.rake_bps)

    def install(self) -> None:
        """Bind the journal for this server's rooms and settle wager rooms through here."""
        bind_journal(self.state.settings.redis_prefix, self.journal)
        self.play.settle_kind_with(WAGER_GAME, WagerSettler(self.play.settlement, self))

    def uninstall(self) -> None:
        unbind_journal(self.state.settings.redis_prefix)

    # ----- settling -----

    def result_alerts(self, spec: MatchSpec, outcome: Outcome) -> list[Alert]:
        detail = outcome.detail
        return alerts.result_alerts(
            self.state.settings, spec.room_id, spec.user_ids, outcome.result, outcome.winner,
            dict(outcome.payouts_minor), detail.get("reason"), "ruling" in detail)

    async def settle(self, spec: MatchSpec, outcome: Outcome, *,
                     force_refund: bool = False) -> Settled:
        if outcome.result == "aborted" and not force_refund:
            status = await self.state.pool.fetchval(
                "SELECT status FROM wager_matches WHERE room_id = $1", spec.room_id)
            if status is not None and status != "settled":
                log.info("wager_suspended", room_id=spec.room_id)
                raise MatchSuspended(f"wager {spec.room_id} is kept for resumption")
        hooked = _SettlingLedger(self, spec, outcome)
        settled = await LedgerSettlement(hooked, self.state.pool).settle(spec, outcome)
        if not hooked.recorded and not settled.replayed:
            # A refund whose holds were all resolved elsewhere moves no money: close the row.
            async with self.state.pool.acquire() as conn, conn.transaction():
                if await record_settlement(conn, spec, outcome, self.state.clock.now_ms(),
                                           self.settings):
                    await alerts.enqueue(conn, self.result_alerts(spec, outcome))
        if not settled.replayed:
            await alerts.push(self.state, self.result_alerts(spec, outcome))
        return settled

    # ----- matches -----

    async def insert_match(self, conn: Any, room_id: str, challenge_id: uuid.UUID | None,
                           seats: Sequence[HeldStake], terms: Mapping[str, Any],
                           flags: Sequence[str]) -> Any:
        """The durable match, in the transaction that holds its stakes (owned by this node)."""
        row = await conn.fetchrow(
            "INSERT INTO wager_matches (room_id, challenge_id, mode, platform, players,"
            " stake_minor, currency, holds, terms, node, flagged) VALUES ($1, $2, $3, $4,"
            " $5::uuid[], $6, $7, $8::jsonb, $9::jsonb, $10, $11) RETURNING *",
            room_id, challenge_id, terms["mode"], terms["platform"],
            [s.user_id for s in seats], seats[0].stake_minor, seats[0].currency,
            holds_json(seats), json.dumps(dict(terms)), self.node_id, list(flags))
        assert row is not None
        return row

    def found_alerts(self, room_id: str, seats: Sequence[HeldStake],
                     terms: Mapping[str, Any]) -> list[Alert]:
        tags = terms.get("tags", {})
        return [
            Alert(s.user_id, "wager_match_found", room_id, "found",
                  f"Your {terms['mode']} wager match is ready against"
                  f" {tags.get(o.user_id, 'your opponent')}: confirm ready in the match room.",
                  {"opponent_id": o.user_id, "mode": terms["mode"],
                   "platform": terms["platform"], "stake_minor": s.stake_minor})
            for s, o in zip(seats, reversed(seats), strict=True)
        ]

    def match_dict(self, row: Any) -> dict[str, Any]:
        return {
            "room_id": row["room_id"], "mode": row["mode"], "platform": row["platform"],
            "players": [str(p) for p in row["players"]], "stake_minor": row["stake_minor"],
            "currency": row["currency"], "terms": _json(row["terms"]),
            "status": row["status"], "result": row["result"],
            "winner": str(row["winner"]) if row["winner"] else None,
            "rated": row["rated"], "node": row["node"],
            "created_at": row["created_at"].isoformat(),
            "settled_at": row["settled_at"].isoformat() if row["settled_at"] else None,
        }

    async def lobby_changed(self, change: dict[str, Any], *, direct_to: str | None = None) -> None:
        """Tell lobby watchers (any node) that a challenge was posted, taken or withdrawn."""
        key = lobby_key(self.state.settings.redis_prefix)
        now = self.state.clock.now_ms()
        try:
            await self.state.redis.zremrangebyscore(key, "-inf", now)
            watchers = [w.decode() if isinstance(w, bytes) else str(w) for w in
                        await self.state.redis.zrange(key, 0, self.settings.lobby_watchers_max - 1)]
        except Exception:
            log.warning("wager_lobby_watchers_unreadable", exc_info=True)
            return
        challenge = change.get("challenge") or {}
        frame = {"t": "wager_lobby", **change}
        for uid in watchers:
            if challenge.get("opponent_id") and uid not in (direct_to, challenge.get("creator_id")):
                continue  # a direct challenge is only for its two players
            with contextlib.suppress(Exception):
                await publish_to_user(self.state, uid, frame)

    async def watch_lobby(self, user_id: str) -> int:
        """Hear lobby changes for `lobby_watch_s`; returns when the watch ends (room-clock ms)."""
        key = lobby_key(self.state.settings.redis_prefix)
        until = self.state.clock.now_ms() + self.settings.lobby_watch_s * 1000
        if await self.state.redis.zcard(key) >= self.settings.lobby_watchers_max:
            await self.state.redis.zremrangebyscore(key, "-inf", self.state.clock.now_ms())
        if await self.state.redis.zcard(key) >= self.settings.lobby_watchers_max:
            raise LobbyFull("the live lobby has too many watchers; refresh instead")
        await self.state.redis.zadd(key, {user_id: until})
        return until

    # ----- rooms -----

    def spec_of(self, row: Mapping[str, Any], *, resume: bool) -> MatchSpec:
        options: dict[str, Any] = {"terms": _json(row["terms"])}
        state = _json(row["state"]) or {}
        if resume and state:
            options["resume"] = state
        return MatchSpec(row["room_id"], WAGER_GAME, seats_of(row["holds"]), options)

    def open_room(self, row: Any) -> Room:
        """Create (or find) the live room of a match row this node owns."""
        room = self.play.rooms.find(row["room_id"])
        if room is not None:
            return room
        room = self.play.rooms.create(self.spec_of(row, resume=True))
        self._resumed_at[row["room_id"]] = self.state.clock.now_ms()
        while len(self._resumed_at) > RESUME_MEMORY:
            self._resumed_at.popitem(last=False)
        return room

    async def ensure_room(self, room_id: str) -> Room | None:
        """The live room of an unsettled match this node owns, resuming it if needed."""
        room = self.play.rooms.find(room_id)
        if room is not None:
            return room
        row = await self.state.pool.fetchrow(
            "SELECT * FROM wager_matches WHERE room_id = $1 AND status <> 'settled'", room_id)
        if row is None or row["node"] != self.node_id or self.play.rooms.draining:
            return None
        async with self._lock:
            room = await self._resume(row)
        return room

    async def _resume(self, row: Any) -> Room | None:
        """Reopen a match's room; one whose holds are gone is refunded instead."""
        spec = self.spec_of(row, resume=True)
        pending = await self.state.pool.fetchval(
            "SELECT count(*) FROM transfers t WHERE t.id = ANY($1::uuid[])"
            " AND t.kind = 'pending' AND NOT EXISTS"
            " (SELECT 1 FROM transfers r WHERE r.pending_id = t.id)",
            [s.hold_id for s in spec.seats])
        if pending != len(spec.seats):
            log.warning("wager_holds_lost", room_id=spec.room_id)
            await self.settle(spec, Outcome.refund_all(spec.seats, result="aborted"),
                              force_refund=True)
            return None
        room = self.open_room(row)
        await self.deliver_ruling(row["room_id"])
        return room

    async def deliver_ruling(self, room_id: str, room: Room | None = None
                             ) -> dict[str, Any] | None:
        """Send a recorded ruling to the live room (idempotent: a decided room refuses it).

        `room` is the room to use when it is not this node's managed one (tests)."""
        dispute = await self.state.pool.fetchrow(
            "SELECT d.ruling, d.reason, d.ruled_by, m.players FROM wager_disputes d"
            " JOIN wager_matches m USING (room_id)"
            " WHERE d.room_id = $1 AND d.ruling IS NOT NULL AND m.status <> 'settled'", room_id)
        room = room or self.play.rooms.find(room_id)
        if dispute is None or room is None:
            return None
        players = [str(p) for p in dispute["players"]]
        payload: dict[str, Any] = {"reason": dispute["reason"]}
        if dispute["ruling"] == "void":
            payload["ruling"] = "void"
        else:
            payload["ruling"] = "winner"
            payload["winner"] = players[0 if dispute["ruling"] == "winner_a" else 1]
        try:
            return await room.signal(Signal("wager_ruling", payload,
                                            sender=f"admin:{dispute['ruled_by']}"))
        except RoomError as exc:
            log.info("wager_ruling_not_delivered", room_id=room_id, code=exc.code)
            return None

    async def adopt_once(self) -> int:
        """Resume this node's matches with no live room, and matches of nodes that died."""
        if self.play.rooms.draining or self.state.draining:
            return 0
        rows = await self.state.pool.fetch(
            "SELECT * FROM wager_matches WHERE status <> 'settled' ORDER BY updated_at LIMIT $1",
            MAX_ADOPT)
        await self._deliver_pending_rulings()
        now = self.state.clock.now_ms()
        cooldown_ms = int(self.settings.resume_cooldown_s * 1000)
        adopted = 0
        for row in rows:
            room_id = row["room_id"]
            if self.play.rooms.find(room_id) is not None:
                continue
            if now - self._resumed_at.get(room_id, -cooldown_ms) < cooldown_ms:
                continue
            if row["node"] != self.node_id:
                if await self.play.directory.node_alive(row["node"]):
                    continue
                row = await self.state.pool.fetchrow(  # type: ignore[assignment]
                    "UPDATE wager_matches SET node = $3, updated_at = now()"
                    " WHERE room_id = $1 AND node = $2 AND status <> 'settled' RETURNING *",
                    room_id, row["node"], self.node_id)
                if row is None:
                    continue  # another node adopted it first
                log.warning("wager_adopted", room_id=room_id)
            async with self._lock:
                if await self._resume(row) is not None:
                    adopted += 1
        return adopted

    async def _deliver_pending_rulings(self) -> None:
        """Rulings recorded while their room was busy elsewhere reach rooms live here."""
        rows = await self.state.pool.fetch(
            "SELECT d.room_id FROM wager_disputes d JOIN wager_matches m USING (room_id)"
            " WHERE d.ruling IS NOT NULL AND m.status <> 'settled' AND m.node = $1 LIMIT $2",
            self.node_id, MAX_ADOPT)
        for r in rows:
            if self.play.rooms.find(r["room_id"]) is not None:
                await self.deliver_ruling(r["room_id"])

    async def run_adopter(self) -> None:
        while not self._stop.is_set():
            try:
                await self.adopt_once()
            except Exception:
                log.exception("wager_adopt_failed")
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.settings.adopt_interval_s):
                    await self._stop.wait()

    def stop(self) -> None:
        self._stop.set()


WAGERS: Slot[WagerService] = Slot("wagers", WagerService)


def wagers(state: AppState) -> WagerService:
    """The node's wager service, or the refusal a caller sees when wagers are not offered."""
    svc = state.find(WAGERS)
    if svc is None:
        raise ApiError(404, "wagers_off", "Wager matches are not offered on this server.")
    return svc


__all__ = ["WAGERS", "JournalLost", "LobbyFull", "MatchSuspended", "WagerService",
           "WagerSettler", "wagers"]
