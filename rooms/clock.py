"""The room clock: real time for the server, manual time for tests.

Rooms never read the system clock directly. They ask an injected `Clock` for
`now_ms()` and schedule callbacks with `call_at`. `ManualClock.advance(ms)`
fires due timers in order and waits for every watched room to go idle after
each one, so a test plays a whole timed duel in milliseconds, deterministically.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Protocol

MAX_TIMERS_PER_ADVANCE = 100_000


class TimerHandle(Protocol):
    def cancel(self) -> None: ...


class Clock(Protocol):
    """Milliseconds since the Unix epoch plus one-shot timers."""

    def now_ms(self) -> int: ...

    def call_at(self, when_ms: int, callback: Callable[[], None]) -> TimerHandle: ...

    def watch(self, idle: Callable[[], Awaitable[None]]) -> Callable[[], None]:
        """Register a coroutine that waits until a room is idle; returns an unregister callable."""
        ...


class RealClock:
    """Wall-clock milliseconds that never jump backwards (monotonic, anchored at start)."""

    def __init__(self) -> None:
        self._epoch_ms = time.time() * 1000.0
        self._mono0 = time.monotonic()

    def now_ms(self) -> int:
        return int(self._epoch_ms + (time.monotonic() - self._mono0) * 1000.0)

    def call_at(self, when_ms: int, callback: Callable[[], None]) -> TimerHandle:
        delay_s = max(0.0, (when_ms - self.now_ms()) / 1000.0)
        return asyncio.get_running_loop().call_later(delay_s, callback)

    def watch(self, idle: Callable[[], Awaitable[None]]) -> Callable[[], None]:
        return _noop


def wall_now() -> datetime:
    """The real time, for what must follow it whatever clock drives the game: signed tokens'
    expiry (checked by their libraries against real time), provider timestamps. Game rules,
    deadlines and matchmaking take time from the injected `Clock` instead."""
    return datetime.fromtimestamp(time.time(), UTC)


def _noop() -> None:
    return None


class _ManualTimer:
    __slots__ = ("callback", "cancelled", "when_ms")

    def __init__(self, when_ms: int, callback: Callable[[], None]) -> None:
        self.when_ms = when_ms
        self.callback = callback
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class ManualClock:
    """A clock that moves only when a test says so (like trio's MockClock)."""

    def __init__(self, start_ms: int = 1_700_000_000_000) -> None:
        assert start_ms >= 0
        self._now_ms = start_ms
        self._heap: list[tuple[int, int, _ManualTimer]] = []
        self._order = itertools.count()
        self._idle_hooks: dict[int, Callable[[], Awaitable[None]]] = {}
        self._hook_ids = itertools.count()

    def now_ms(self) -> int:
        return self._now_ms

    def call_at(self, when_ms: int, callback: Callable[[], None]) -> TimerHandle:
        timer = _ManualTimer(max(when_ms, self._now_ms), callback)
        heapq.heappush(self._heap, (timer.when_ms, next(self._order), timer))
        return timer

    def watch(self, idle: Callable[[], Awaitable[None]]) -> Callable[[], None]:
        key = next(self._hook_ids)
        self._idle_hooks[key] = idle

        def unwatch() -> None:
            self._idle_hooks.pop(key, None)

        return unwatch

    @property
    def pending_timers(self) -> int:
        return sum(1 for _, _, t in self._heap if not t.cancelled)

    async def settle(self) -> None:
        """Wait until every watched room has applied everything queued so far."""
        for hook in list(self._idle_hooks.values()):
            await hook()

    async def advance(self, ms: int) -> None:
        """Move time forward by `ms`, firing each due timer in order and settling after each."""
        assert ms >= 0, "time never goes backwards"
        target_ms = self._now_ms + ms
        await self.settle()
        fired = 0
        while self._heap and self._heap[0][0] <= target_ms:
            when_ms, _, timer = heapq.heappop(self._heap)
            if timer.cancelled:
                continue
            self._now_ms = max(self._now_ms, when_ms)
            timer.callback()
            fired += 1
            assert fired <= MAX_TIMERS_PER_ADVANCE, "runaway timers"
            await self.settle()
        self._now_ms = target_ms
        await self.settle()
