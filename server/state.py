"""What one server process holds while it runs, shared by every feature."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import asyncpg
import structlog
from redis.asyncio import Redis

from rooms.clock import Clock, RealClock
from server.config import Settings
from server.embedded import Services

if TYPE_CHECKING:
    from ledger import Ledger

log = structlog.get_logger(__name__)


T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Slot(Generic[T]):
    """A typed place in the app state for an object one part owns and others use.

    The owner defines the slot beside the object (`PLAY = Slot("play", PlayService)`)
    and `provide`s it at start-up; users `need` (or `find`) it and get the right type
    back, checked, instead of an untyped lookup by string.
    """

    name: str
    kind: type[T]


# Slots read by parts below their owner (so they cannot import the owner's module).
GAME_LIST: Slot[list[Any]] = Slot("games", list)


@dataclass
class AppState:
    """Handles to the shared services plus the objects parts provide through `Slot`s."""

    settings: Settings
    services: Services
    pool: asyncpg.Pool
    redis: Redis
    ledger: Ledger
    jwt_secret: str
    _slots: dict[str, Any] = field(default_factory=dict, repr=False)
    tasks: list[asyncio.Task[Any]] = field(default_factory=list)
    draining: bool = False
    # The process's one clock (epoch ms + timers): rooms, matchmaking and sweeps read it, so
    # a test can hand the server a ManualClock and drive time itself.
    clock: Clock = field(default_factory=RealClock)

    def now(self) -> datetime:
        """The process clock's time as an aware UTC datetime (for SQL and day boundaries)."""
        return datetime.fromtimestamp(self.clock.now_ms() / 1000, UTC)

    def provide(self, slot: Slot[T], value: T) -> T:
        """Make `value` the one object in `slot` for this process."""
        assert isinstance(value, slot.kind), (slot.name, type(value))
        self._slots[slot.name] = value
        return value

    def find(self, slot: Slot[T]) -> T | None:
        value = self._slots.get(slot.name)
        assert value is None or isinstance(value, slot.kind)
        return value

    def need(self, slot: Slot[T]) -> T:
        """The object in `slot`; a LookupError names the part that is not running."""
        value = self.find(slot)
        if value is None:
            raise LookupError(f"{slot.name!r} is not running on this node")
        return value

    def drop(self, slot: Slot[T]) -> T | None:
        value: T | None = self._slots.pop(slot.name, None)
        return value

    @property
    def extras(self) -> Mapping[str, Any]:
        """A read-only view of the slots by name (tests and debugging)."""
        return MappingProxyType(self._slots)

    def spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> asyncio.Task[Any]:
        """Run a background task for the life of the process; a crash is logged, not lost."""
        task = asyncio.create_task(coro, name=name)

        def _done(t: asyncio.Task[Any]) -> None:
            if not t.cancelled() and t.exception() is not None:
                log.error("background_task_crashed", task=name, exc_info=t.exception())

        task.add_done_callback(_done)
        self.tasks.append(task)
        return task
