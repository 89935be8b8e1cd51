"""Group commit: concurrent callers' jobs share one database round trip.

While fewer than `max_inflight` flushes run, a new job is flushed at once (no added latency
when idle); under load the jobs that queue up meanwhile go together in the next flush.

The bookkeeping of a flush (queue room, in-flight count, jobs handed back) runs in the flush
task's done callback, not in the task's own code: that callback runs however the task ends,
even if it is cancelled before it ever started. A flush that ends without returning (it was
cancelled or raised) hands its jobs to `abandon`, so no caller waits for ever.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Coroutine
from functools import partial
from typing import Any, Generic, TypeVar

J = TypeVar("J")


class Coalescer(Generic[J]):
    """A bounded queue of jobs drained in chunks by at most `max_inflight` concurrent flushes."""

    def __init__(
        self,
        flush: Callable[[list[J]], Coroutine[Any, Any, list[J]]],
        *,
        size: Callable[[J], int],
        max_inflight: int,
        max_chunk_items: int,
        max_queued_jobs: int,
        abandon: Callable[[list[J], BaseException | None], None],
    ) -> None:
        assert max_inflight >= 1 and max_chunk_items >= 1 and max_queued_jobs >= 1
        self._flush = flush
        self._abandon = abandon
        self._size = size
        self._max_inflight = max_inflight
        self._max_chunk_items = max_chunk_items
        self._room = asyncio.Semaphore(max_queued_jobs)
        self._queue: deque[J] = deque()
        self._inflight = 0
        self._tasks: set[asyncio.Task[list[J]]] = set()

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
            # The flusher returns the jobs to run once more (it bounds those retries).
            task = asyncio.get_running_loop().create_task(self._flush(chunk))
            self._tasks.add(task)
            task.add_done_callback(partial(self._done, chunk))

    def _done(self, chunk: list[J], task: asyncio.Task[list[J]]) -> None:
        self._tasks.discard(task)
        again: list[J] = []
        if task.cancelled():
            self._abandon(chunk, None)
        elif (exc := task.exception()) is not None:
            self._abandon(chunk, exc)
        else:
            again = task.result()
        for _ in range(len(chunk) - len(again)):
            self._room.release()
        self._queue.extendleft(reversed(again))
        self._inflight -= 1
        self._kick()
