"""Group commit: concurrent callers' jobs share one database round trip.

While fewer than `max_inflight` flushes run, a new job is flushed at once (no added latency
when idle); under load the jobs that queue up meanwhile go together in the next flush.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

J = TypeVar("J")


class Coalescer(Generic[J]):
    """A bounded queue of jobs drained in chunks by at most `max_inflight` concurrent flushes."""

    def __init__(
        self,
        flush: Callable[[list[J]], Awaitable[list[J]]],
        *,
        size: Callable[[J], int],
        max_inflight: int,
        max_chunk_items: int,
        max_queued_jobs: int,
    ) -> None:
        assert max_inflight >= 1 and max_chunk_items >= 1 and max_queued_jobs >= 1
        self._flush = flush
        self._size = size
        self._max_inflight = max_inflight
        self._max_chunk_items = max_chunk_items
        self._room = asyncio.Semaphore(max_queued_jobs)
        self._queue: deque[J] = deque()
        self._inflight = 0
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def inflight(self) -> int:
        return self._inflight

    async def submit(self, job: J) -> None:
        """Queue `job` (waiting while the queue is full); `flush` settles it or hands it back."""
        await self._room.acquire()
        self._queue.append(job)
        self._kick()

    def _kick(self) -> None:
        while self._inflight < self._max_inflight and self._queue:
            chunk: list[J] = []
            items = 0
            while self._queue and (
                not chunk or items + self._size(self._queue[0]) <= self._max_chunk_items
            ):
                job = self._queue.popleft()
                items += self._size(job)
                chunk.append(job)
            self._inflight += 1
            task = asyncio.get_running_loop().create_task(self._run(chunk))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _run(self, chunk: list[J]) -> None:
        again: list[J] = []
        try:
            again = await self._flush(chunk)  # jobs to run once more (the flusher bounds retries)
        finally:
            for _ in range(len(chunk) - len(again)):
                self._room.release()
            self._queue.extendleft(reversed(again))
            self._inflight -= 1
            self._kick()
