"""What one server process holds while it runs, shared by every feature."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import asyncpg
import structlog
from redis.asyncio import Redis

from rooms.clock import Clock, RealClock
from server.config import Settings
from server.embedded import Services

if TYPE_CHECKING:
    from ledger import Ledger

log = structlog.get_logger(__name__)


@dataclass
class AppState:
    """Handles to the shared services plus feature-owned objects in `extras`."""

    settings: Settings
    services: Services
    pool: asyncpg.Pool
    redis: Redis
    ledger: Ledger
    jwt_secret: str
    extras: dict[str, Any] = field(default_factory=dict)
    tasks: list[asyncio.Task[Any]] = field(default_factory=list)
    draining: bool = False
    # The process's one clock (epoch ms + timers): rooms, matchmaking and sweeps read it, so
    # a test can hand the server a ManualClock and drive time itself.
    clock: Clock = field(default_factory=RealClock)

    def spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> asyncio.Task[Any]:
        """Run a background task for the life of the process; a crash is logged, not lost."""
        task = asyncio.create_task(coro, name=name)

        def _done(t: asyncio.Task[Any]) -> None:
            if not t.cancelled() and t.exception() is not None:
                log.error("background_task_crashed", task=name, exc_info=t.exception())

        task.add_done_callback(_done)
        self.tasks.append(task)
        return task
