"""One node's live play for every registered room kind: matchmakers, rooms, settlement.

Generic over `rooms.registry`: each kind named in `MATCHPOT_GAMES` gets its own
queues (one per stake tier), its own escrow account and its own room factory;
the pairing, seating, settling, history and alerts are the same for all. A
pairing's room is created on the node that made it (the reservation names that
node), and both players hear `match_found` on whichever node holds their
connection (Redis pub/sub).
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import structlog

from ledger import OutboxMessage, outbox, split_pot, transfer_id
from matchmaking import Matchmaker
from matchmaking.config import MatchConfig
from matchmaking.errors import GameNotOffered
from matchmaking.keys import QueueSpec
from matchmaking.types import HoldState, Match
from rooms import registry
from rooms.api import Outcome, Settled
from rooms.directory import BatchedDirectory, RoomDirectory
from rooms.ledger_settlement import LedgerSettlement
from rooms.manager import ManagerLimits, RoomManager
from rooms.registry import GameKind, GameServices, GameSettings
from rooms.runtime import Room, RoomConfig
from rooms.settlement import Settler
from rooms.types import HeldStake, MatchSpec
from server import metrics
from server.features.play import mine, reaper
from server.features.play.alerts import ALERT_CHANNEL, AlertingLedger
from server.features.play.stakes import LedgerStakes, timeout_bonus_minor
from server.gateway.events import publish_into, publish_to_user
from server.limits.service import check_stake
from server.state import AppState, Slot

log = structlog.get_logger(__name__)

MAX_PENDING_ALERTS = 20_000
ALERT_BATCH = 500
NAME_CACHE_MAX = 50_000


class LocalPlayer(Protocol):
    """A player seated in-process rather than over a socket (the demo bot)."""

    async def seat(self, room: Room) -> None: ...


class NotifyingStakes:
    """The ledger-backed StakeHolder, telling a player when their wait ended in a refund."""

    def __init__(self, inner: LedgerStakes, state: AppState) -> None:
        self._inner = inner
        self._state = state

    async def vet(self, user_id: str, stake_minor: int, currency: str) -> None:
        """Own limits, exclusion, suspension (matchmaking.StakeVetter: read beside the claim)."""
        await check_stake(self._state, user_id, stake_minor)

    async def hold(
        self, ticket_id: str, user_id: str, stake_minor: int, currency: str, timeout_s: int
    ) -> str:
        return await self._inner.hold(ticket_id, user_id, stake_minor, currency, timeout_s)

    async def release(self, ticket_id: str, hold_id: str) -> None:
        await self._inner.release(ticket_id, hold_id)

    async def hold_states(self, holds: Sequence[tuple[str, str]]) -> list[HoldState]:
        return await self._inner.hold_states(holds)

    async def hold_state(self, ticket_id: str, hold_id: str) -> HoldState:
        return await self._inner.hold_state(ticket_id, hold_id)

    async def refund_with_bonus(
        self, ticket_id: str, hold_id: str, user_id: str, stake_minor: int, currency: str,
        bonus_bp: int,
    ) -> None:
        await self._inner.refund_with_bonus(
            ticket_id, hold_id, user_id, stake_minor, currency, bonus_bp
        )
        frame = {
            "t": "queue_timeout", "ticket_id": ticket_id, "refunded_minor": stake_minor,
            "bonus_minor": timeout_bonus_minor(stake_minor, bonus_bp), "currency": currency,
        }
        with contextlib.suppress(Exception):
            await publish_to_user(self._state, user_id, frame)


@dataclass(frozen=True, slots=True)
class PlayKind:
    """A registered room kind as this node runs it."""

    kind: GameKind
    settings: GameSettings
    matchmaker: Matchmaker
    queues: tuple[QueueSpec, ...]

    @property
    def name(self) -> str:
        return self.kind.name

    @property
    def stake_tiers_minor(self) -> tuple[int, ...]:
        return self.settings.stake_tiers_minor

    def describe(self, currency: str) -> dict[str, Any]:
        """The kind as the PWA's game list and `GET /games` show it."""
        return {
            "name": self.kind.name, "title": self.kind.title, "summary": self.kind.summary,
            "seats": self.kind.seats, "stakes_minor": list(self.stake_tiers_minor),
            "currency": currency, "rake_bps": self.settings.rake_bps,
            "message_types": sorted(self.kind.message_types),
            "queue": self.kind.open_queue,  # False: reached through its own feature's routes
            # What a winner of a full room receives per stake tier (pot less the house's share).
            "prizes_minor": [split_pot(t * self.kind.seats, self.settings.rake_bps)[0]
                             for t in self.stake_tiers_minor],
        }


def match_config(state: AppState, name: str, tiers: tuple[int, ...]) -> MatchConfig:
    s = state.settings
    return MatchConfig(
        games=frozenset({name}), stake_tiers_minor={s.currency: tiers},
        window_start=s.mm_window_start, window_max=s.mm_window_max,
        window_grow_s=s.mm_window_grow_s, max_wait_s=s.mm_max_wait_s,
        timeout_bonus_bp=s.mm_timeout_bonus_bps, avoid_recent_s=s.mm_avoid_recent_s,
        max_queue_len=s.mm_max_queue_len,
    )


class PlayService:
    """Everything a node needs to queue players and host their rooms, for every kind."""

    def __init__(self, state: AppState) -> None:
        s = state.settings
        self.state = state
        self.clock = state.clock
        self.kinds: dict[str, PlayKind] = {}
        services = GameServices(state.redis, s.redis_prefix)
        factories = {}
        for kind in registry.load(s.games):
            settings = kind.load_settings(s.game_settings.get(kind.name))
            if not settings.enabled:
                continue
            config = match_config(state, kind.name, settings.stake_tiers_minor)
            matchmaker = Matchmaker(
                state.redis, s.redis_prefix,
                money=NotifyingStakes(LedgerStakes(state.ledger, game=kind.name), state),
                clock=self.clock.now_ms, config=config, node_url=s.resolved_public_url,
                on_match=self.on_match,
            )
            queues = tuple(QueueSpec(kind.name, s.currency, t) for t in settings.stake_tiers_minor
                           if kind.open_queue)
            self.kinds[kind.name] = PlayKind(kind, settings, matchmaker, queues)
            factories[kind.name] = kind.make_factory(settings, services)
        assert self.kinds, "at least one room kind is enabled (MATCHPOT_GAMES)"
        self.directory = RoomDirectory(state.redis, s.redis_prefix)
        # Rooms report through one writer that shares pipelines among them (reads go to
        # `directory`); a room's entry lands within the writer's interval (50 ms).
        self.directory_writer = BatchedDirectory(self.directory)
        self.records = reaper.RoomRecords(state)  # failover records of this node's rooms
        self.settlement = LedgerSettlement(AlertingLedger(state.ledger), state.pool)
        # A kind whose outcome moves more than money (ratings, a match row) settles through
        # its own Settler, registered by its feature; every other kind through the ledger's.
        self._settlers: dict[str, Settler] = {}
        self.rooms = RoomManager(
            clock=self.clock, games=factories, node=s.node_id,
            limits=ManagerLimits(max_rooms=s.rooms_max, max_seats=s.seats_max),
            room_config=RoomConfig(grace_ms=s.room_grace_ms,
                                   snapshots_per_s=s.room_snapshots_per_s),
            observer=self.directory_writer, settler=_KindSettler(self),
        )
        self._stop = asyncio.Event()
        # conn_id -> room ids that connection sits or watches in, for disconnects.
        self.conn_rooms: dict[str, set[str]] = {}
        self._watched: set[str] = set()
        self._alerts: list[OutboxMessage] = []  # match_found alerts not yet in the outbox
        self._alert_writer: asyncio.Task[None] | None = None
        self._names: dict[str, str] = {}
        self._watchers: set[asyncio.Task[None]] = set()
        self.local_players: dict[str, LocalPlayer] = {}

    # ----- kinds -----

    def kind(self, name: str) -> PlayKind:
        """The kind a player may queue for, or the error they should see."""
        found = self.kinds.get(name)
        if found is None or not found.kind.open_queue:
            raise GameNotOffered(f"{name!r} is not offered here")
        return found

    @property
    def queues(self) -> list[QueueSpec]:
        return [q for k in self.kinds.values() for q in k.queues]

    @property
    def matchmaker(self) -> Matchmaker:
        """Any kind's matchmaker: tickets, claims and seat tokens are shared by all of them."""
        return next(iter(self.kinds.values())).matchmaker

    def settle_kind_with(self, game: str, settler: Settler) -> None:
        """Settle rooms of `game` through `settler` (it must be idempotent per room too)."""
        assert game in self.kinds, f"{game!r} is not a room kind of this node"
        self._settlers[game] = settler

    def settler_for(self, game: str) -> Settler:
        return self._settlers.get(game, self.settlement)

    def describe(self) -> list[dict[str, Any]]:
        return [k.describe(self.state.settings.currency) for k in self.kinds.values()]

    # ----- pairing -----

    async def on_match(self, match: Match) -> None:
        """Create the room here, then tell both players where to sit. Idempotent by room id.

        One Redis transaction carries the room's failover record, each player's "my
        rooms" entry and both `match_found` frames: the record lands before (atomically
        with) the news, and the pairing waits for one round trip instead of four.
        """
        game = match.queue.game
        seats = tuple(
            HeldStake(t.user_id, uuid.UUID(t.hold_id), t.stake_minor, t.currency)
            for t in match.tickets
        )
        room = self.rooms.create(MatchSpec(match.room_id, game, seats))
        if room.room_id not in self._watched:
            self._watched.add(room.room_id)
            watcher = asyncio.create_task(self._forget_when_closed(room))
            self._watchers.add(watcher)
            watcher.add_done_callback(self._watchers.discard)
        metrics.MATCHES_MADE.labels(game=game).inc()
        names = await self._display_names([t.user_id for t in match.tickets])
        reservations = match.reservations
        frames = []
        for mine_, theirs in zip(reservations, reversed(reservations), strict=True):
            ws_url = mine_.node_url.replace("http", "ws", 1).rstrip("/") + "/ws"
            frames.append((mine_.user_id, {
                "t": "match_found", "room_id": match.room_id, "game": game,
                "stake_minor": match.queue.stake_minor, "currency": match.queue.currency,
                "node": self.state.settings.node_id,  # the room is created on this node
                "node_url": mine_.node_url, "ws_url": ws_url, "seat_token": mine_.seat_token,
                "expires_at_ms": mine_.expires_at_ms,
                "opponent": {"user_id": theirs.user_id,
                             "display_name": names.get(theirs.user_id, "player")},
            }))
        entries = {uid: self._my_room_entry(f, match.created_ms) for uid, f in frames
                   if uid not in self.local_players}
        async with self.state.redis.pipeline(transaction=True) as pipe:
            # Written again on a redelivery: the same record, so harmless.
            self.records.write_into(pipe, match.room_id, game, seats, match.created_ms)
            for uid, entry in entries.items():
                mine.write_into(pipe, self.state, uid, match.room_id, entry)
            for uid, frame in frames:
                publish_into(pipe, self.state, uid, frame)
            replies = await pipe.execute()
        for seat in seats:  # the demo's bots sit down in-process, after the record exists
            local = self.local_players.get(seat.user_id)
            if local is not None and not room.seats[seat.user_id].joined_ever:
                await local.seat(room)
        counts = replies[2:][2::3][: len(entries)]  # each entry's HLEN, after the record's 2
        for (uid, entry), count in zip(entries.items(), counts, strict=True):
            await mine.keep_bounded(self.state, uid, match.room_id, entry, int(count))
        self._alert_match_found(match)

    @staticmethod
    def _my_room_entry(frame: dict[str, Any], created_ms: int) -> dict[str, Any]:
        """What a reloaded app needs to find its duel again (features/play/mine.py)."""
        return {"ws_url": frame["ws_url"], "stake_minor": frame["stake_minor"],
                "currency": frame["currency"], "opponent": frame["opponent"],
                "created_ms": created_ms}

    def _alert_match_found(self, match: Match) -> None:
        """A WhatsApp alert per human player (the worker honours `stop` and the 24 h window).

        Written off the pairing path: the alerts of every match of the moment go to the
        outbox together in one statement (`_write_alerts`).
        """
        humans = [t.user_id for t in match.tickets if t.user_id not in self.local_players]
        if len(self._alerts) + len(humans) > MAX_PENDING_ALERTS:
            log.warning("match_found_alert_dropped", room_id=match.room_id)
            return  # a courtesy: the websocket told them
        self._alerts.extend(
            OutboxMessage(
                id=transfer_id(match.room_id, "match_found", uid), channel=ALERT_CHANNEL,
                recipient=uid, kind="match_found",
                payload={"room_id": match.room_id, "game": match.queue.game,
                         "stake_minor": match.queue.stake_minor,
                         "currency": match.queue.currency},
            )
            for uid in humans
        )
        if self._alert_writer is None or self._alert_writer.done():
            self._alert_writer = asyncio.create_task(self._write_alerts(),
                                                     name="match-found-alerts")

    async def _write_alerts(self) -> None:
        """Until none are left: the pending alerts, ALERT_BATCH per outbox statement."""
        await asyncio.sleep(0)  # let the other handlers of this pairing round add theirs
        while self._alerts:
            messages, self._alerts = self._alerts[:ALERT_BATCH], self._alerts[ALERT_BATCH:]
            try:
                async with self.state.pool.acquire() as conn:
                    await outbox.enqueue(conn, messages)  # one statement: all or none
            except Exception:  # an alert is a courtesy: the match stands, the socket told them
                log.exception("match_found_alert_failed", alerts=len(messages))

    async def _forget_when_closed(self, room: Room) -> None:
        await room.wait_closed()
        self._watched.discard(room.room_id)
        self.records.forget(room.room_id)

    async def _display_names(self, user_ids: list[str]) -> dict[str, str]:
        """Names for `match_found`, from a bounded in-process cache in front of Postgres."""
        missing = [u for u in user_ids if u not in self._names]
        if missing:
            rows = await self.state.pool.fetch(
                "SELECT id::text AS id, coalesce(display_name, 'player') AS name FROM users"
                " WHERE id = ANY($1::uuid[])", missing,
            )
            if len(self._names) + len(rows) > NAME_CACHE_MAX:
                self._names.clear()
            self._names.update({r["id"]: r["name"] for r in rows})
        return {u: self._names.get(u, "player") for u in user_ids}

    # ----- life -----

    async def start(self) -> None:
        for kind in self.kinds.values():
            if kind.queues:  # a kind reached only through its own feature has no queue here
                self.state.spawn(kind.matchmaker.run_pairing_loop(list(kind.queues), self._stop),
                                 f"pairing:{kind.name}")
        self.state.spawn(self._heartbeat(), "node-heartbeat")
        self.state.spawn(reaper.run(
            self.state, _KindSettler(self), lambda room_id: self.rooms.find(room_id) is not None,
            self.directory.node_alive, self._stop, self.state.settings.node_heartbeat_s,
        ), "room-reaper")

    async def _heartbeat(self) -> None:
        s = self.state.settings
        interval_s = s.node_heartbeat_s
        assert interval_s > 0
        while not self._stop.is_set():
            try:
                await self.directory.heartbeat(s.node_id, int(interval_s * 3) + 1,
                                               self.rooms.room_count)
                metrics.ROOMS_LIVE.set(self.rooms.room_count)
            except Exception:
                log.warning("node_heartbeat_failed", exc_info=True)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(interval_s):
                    await self._stop.wait()

    async def stop(self) -> dict[str, Any]:
        """Stop pairing, let live rooms finish within the bound, abort (void) the rest."""
        self._stop.set()
        report = await self.rooms.drain(self.state.settings.drain_timeout_s)
        await self.directory_writer.aclose()
        await self.records.aclose()
        if self._alert_writer is not None:
            with contextlib.suppress(Exception):
                async with asyncio.timeout(5):
                    await self._alert_writer
        with contextlib.suppress(Exception):
            await self.directory.remove_node(self.state.settings.node_id)
        log.info("rooms_drained", finished=report.finished, aborted=report.aborted)
        return {"finished": report.finished, "aborted": report.aborted}


PLAY: Slot[PlayService] = Slot("play", PlayService)


class _KindSettler:
    """The RoomManager's Settler: each room through its kind's settler."""

    def __init__(self, play: PlayService) -> None:
        self._play = play

    async def settle(self, spec: MatchSpec, outcome: Outcome) -> Settled:
        return await self._play.settler_for(spec.game).settle(spec, outcome)


def service(state: AppState) -> PlayService:
    return state.need(PLAY)


__all__ = ["ALERT_CHANNEL", "PlayKind", "PlayService", "service"]
