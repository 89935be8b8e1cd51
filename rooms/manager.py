"""One RoomManager per node: creates rooms from matches, finds them, limits them, drains them."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from dataclasses import dataclass

import structlog

from rooms.api import GameFactory
from rooms.clock import Clock
from rooms.errors import NodeDraining, RoomNotFound, TooManyRooms, TooManySeats, UnknownGame
from rooms.runtime import Room, RoomConfig, RoomObserver
from rooms.settlement import Settler
from rooms.types import MatchSpec

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class ManagerLimits:
    max_rooms: int = 5_000
    max_seats: int = 10_000

    def __post_init__(self) -> None:
        assert self.max_rooms > 0 and self.max_seats > 0


@dataclass(frozen=True, slots=True)
class DrainReport:
    finished: int  # rooms that ended on their own within the bound
    aborted: int  # rooms stopped through their game's abort rule


class RoomManager:
    """The node's live rooms. The server creates one at start-up and drains it on SIGTERM."""

    def __init__(
        self,
        *,
        clock: Clock,
        games: dict[str, GameFactory],
        node: str = "local",
        limits: ManagerLimits | None = None,
        room_config: RoomConfig | None = None,
        observer: RoomObserver | None = None,
        rng: random.Random | None = None,
        on_count: Callable[[int, int], None] | None = None,
        settler: Settler | None = None,
    ) -> None:
        """`on_count(rooms, seats)` is called on every change (the server feeds a gauge);
        `settler` commits every room's outcome (required once a room has stakes)."""
        self.clock = clock
        self.games = dict(games)
        self.node = node
        self.limits = limits or ManagerLimits()
        self.room_config = room_config or RoomConfig()
        self.observer = observer
        self._rng = rng or random.Random()
        self._rooms: dict[str, Room] = {}
        self._seats = 0
        self.draining = False
        self._on_count = on_count
        self.settler = settler

    @property
    def room_count(self) -> int:
        return len(self._rooms)

    @property
    def seat_count(self) -> int:
        return self._seats

    def rooms(self) -> list[Room]:
        return list(self._rooms.values())

    def get(self, room_id: str) -> Room:
        room = self._rooms.get(room_id)
        if room is None:
            raise RoomNotFound(f"no live room {room_id} on this node")
        return room

    def find(self, room_id: str) -> Room | None:
        return self._rooms.get(room_id)

    def create(self, spec: MatchSpec) -> Room:
        """Start the room for a match; creating the same room id again returns the live one."""
        existing = self._rooms.get(spec.room_id)
        if existing is not None:
            return existing
        if self.draining:
            raise NodeDraining("this node is shutting down; use another node")
        factory = self.games.get(spec.game)
        if factory is None:
            raise UnknownGame(f"no game called {spec.game!r} on this node")
        if len(self._rooms) >= self.limits.max_rooms:
            raise TooManyRooms(f"this node already runs {self.limits.max_rooms} rooms")
        if self._seats + len(spec.seats) > self.limits.max_seats:
            raise TooManySeats(f"this node already holds {self._seats} seats")
        rng = random.Random(self._rng.getrandbits(64))
        room = Room(
            spec, factory(spec, rng), clock=self.clock, rng=rng, node=self.node,
            config=self.room_config, observer=self.observer, on_closed=self._closed,
            settler=self.settler,
        )
        self._rooms[spec.room_id] = room
        self._seats += len(spec.seats)
        self._report()
        room.start()
        return room

    def _report(self) -> None:
        if self._on_count is not None:
            self._on_count(len(self._rooms), self._seats)

    def _closed(self, room: Room) -> None:
        if self._rooms.get(room.room_id) is room:
            del self._rooms[room.room_id]
            self._seats -= len(room.spec.seats)
            assert self._seats >= 0
            self._report()

    async def drain(self, timeout_s: float, *, abort_timeout_s: float = 10.0) -> DrainReport:
        """Take no new rooms, let live ones finish within `timeout_s`, then abort the rest.

        Aborting goes through each game's rule (holds voided, `room_aborted` sent).
        """
        assert timeout_s >= 0 and abort_timeout_s > 0
        self.draining = True
        live = list(self._rooms.values())
        if live:
            await _wait_all([asyncio.ensure_future(r.wait_closed()) for r in live], timeout_s)
        remaining = [r for r in live if not r.closed.is_set()]
        finished = len(live) - len(remaining)
        if remaining:
            log.warning("rooms_drain_aborting", count=len(remaining))
            await _wait_all(
                [asyncio.ensure_future(self._abort(r)) for r in remaining], abort_timeout_s
            )
        return DrainReport(finished=finished, aborted=len(remaining))

    @staticmethod
    async def _abort(room: Room) -> None:
        await room.abort("node_shutdown")
        await room.wait_closed()


async def _wait_all(tasks: list[asyncio.Future[None]], timeout_s: float) -> None:
    _done, pending = await asyncio.wait(tasks, timeout=timeout_s)
    for task in pending:
        task.cancel()
