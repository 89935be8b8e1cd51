"""The room directory in Redis: where each live room runs and what it looks like now.

Any node can list live rooms and read their latest public snapshot (the admin
view, spectators, a failover node). Entries expire on their own if a node dies
and are removed when a room closes. Rooms throttle their own writes.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import structlog
from redis.asyncio import Redis

from rooms import keys
from rooms.api import Frame
from rooms.runtime import RoomInfo

log = structlog.get_logger(__name__)

MAX_LIST = 1_000


@dataclass(frozen=True, slots=True)
class DirectoryEntry:
    info: dict[str, Any]
    snapshot: dict[str, Any]


class RoomDirectory:
    """Implements `RoomObserver` for the runtime and the read side for any node."""

    def __init__(self, redis: Redis, prefix: str, *, entry_ttl_s: int = 120) -> None:
        assert entry_ttl_s > 0
        self.redis = redis
        self.prefix = prefix
        self.entry_ttl_s = entry_ttl_s

    async def room_updated(self, info: RoomInfo, public_state: Frame) -> None:
        async with self.redis.pipeline(transaction=True) as pipe:
            self.queue_update(pipe, info, public_state, int(time.time() * 1000))
            await pipe.execute()

    async def room_closed(self, room_id: str) -> None:
        async with self.redis.pipeline(transaction=True) as pipe:
            self.queue_close(pipe, room_id)
            await pipe.execute()

    def queue_update(self, pipe: Any, info: RoomInfo, public_state: Frame, now_ms: int,
                     *, relist: bool = True) -> None:
        """The writes of one room's entry, added to `pipe` (BatchedDirectory shares them).

        `relist=False` leaves the room's place in the live list as it is (its expiry there
        was pushed out recently enough); the entry's own keys are always rewritten.
        """
        entry = {"info": info.to_dict(),
                 "snap": {"seq": info.seq, "phase": info.phase, "state": public_state}}
        pipe.set(keys.room(self.prefix, info.room_id), json.dumps(entry), ex=self.entry_ttl_s)
        if relist:
            pipe.zadd(keys.live(self.prefix), {info.room_id: now_ms + self.entry_ttl_s * 1000})

    def queue_close(self, pipe: Any, room_id: str) -> None:
        pipe.delete(keys.room(self.prefix, room_id))
        pipe.zrem(keys.live(self.prefix), room_id)

    async def get(self, room_id: str) -> DirectoryEntry | None:
        raw = await self.redis.get(keys.room(self.prefix, room_id))
        if raw is None:
            return None
        entry = json.loads(raw)
        return DirectoryEntry(entry["info"], entry["snap"])

    async def list_live(self, limit: int = 100) -> list[dict[str, Any]]:
        """Live rooms on every node, oldest entries first; expired entries are pruned."""
        limit = max(1, min(limit, MAX_LIST))
        now_ms = int(time.time() * 1000)
        live_key = keys.live(self.prefix)
        await self.redis.zremrangebyscore(live_key, "-inf", now_ms)
        ids = [r.decode() if isinstance(r, bytes) else str(r)
               for r in await self.redis.zrange(live_key, 0, limit - 1)]
        if not ids:
            return []
        raws = await self.redis.mget([keys.room(self.prefix, i) for i in ids])
        return [json.loads(r)["info"] for r in raws if r is not None]

    async def heartbeat(self, node_id: str, ttl_s: int, room_count: int) -> None:
        """Say this node is alive; others treat an expired key as a dead node."""
        assert ttl_s > 0
        await self.redis.set(
            keys.node(self.prefix, node_id),
            json.dumps({"rooms": room_count, "at_ms": int(time.time() * 1000)}), ex=ttl_s,
        )

    async def node_alive(self, node_id: str) -> bool:
        return bool(await self.redis.exists(keys.node(self.prefix, node_id)))

    async def remove_node(self, node_id: str) -> None:
        await self.redis.delete(keys.node(self.prefix, node_id))


class BatchedDirectory:
    """A `RoomObserver` that writes the entries of every room of a node in shared pipelines.

    Each room throttles its own snapshots, but a node with thousands of rooms still made
    one Redis round trip per room per snapshot, each a wake-up
    of Redis and of this process. Here a room's call only notes its latest state; a single
    writer sends everything noted every `interval_s` in one pipeline per `chunk` rooms
    (a pipeline is built and encoded in one go on the event loop; a small chunk keeps
    each such stretch short, and the loop serves others between chunks).
    A room's entry thus reaches Redis at most `interval_s` later than it would have; a
    room closed before its pending update was written is only removed. Reads go to the
    wrapped directory (the node's `RoomDirectory`). Failed writes are logged: entries
    expire on their own (their TTL), and closings are kept for the next attempt (bounded).
    """

    def __init__(self, directory: RoomDirectory, *, interval_s: float = 0.05,
                 chunk: int = 100, max_pending: int = 50_000,
                 now_ms: Callable[[], int] = lambda: int(time.time() * 1000)) -> None:
        assert interval_s > 0 and chunk > 0 and max_pending > 0
        self.directory = directory
        self.interval_s = interval_s
        self.chunk = chunk
        self.max_pending = max_pending
        self._now_ms = now_ms  # wall time: the live list's scores are read by every node
        self._updates: dict[str, tuple[RoomInfo, Frame]] = {}
        self._closed: set[str] = set()
        # When each live room's place in the live list was last pushed out: a room is
        # listed again only once half the entry TTL has passed (one write in three less).
        self._listed_ms: dict[str, int] = {}
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self.writes = 0  # pipelines sent (tests and benchmarks read it)

    async def room_updated(self, info: RoomInfo, public_state: Frame) -> None:
        if len(self._updates) >= self.max_pending and info.room_id not in self._updates:
            await self.flush()  # the writer is behind: wait for it rather than grow
        self._updates[info.room_id] = (info, public_state)
        self._kick()

    async def room_closed(self, room_id: str) -> None:
        self._updates.pop(room_id, None)
        self._listed_ms.pop(room_id, None)
        if len(self._closed) >= self.max_pending:
            await self.flush()
        self._closed.add(room_id)
        self._kick()

    def _kick(self) -> None:
        self._wake.set()
        if self._task is None and not self._stopping:
            self._task = asyncio.get_running_loop().create_task(
                self._run(), name="room-directory-writer")

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            await asyncio.sleep(self.interval_s)  # let the other rooms of this moment join
            self._wake.clear()
            try:
                await self.flush()
            except Exception:
                log.warning("room_directory_write_failed", exc_info=True)

    async def flush(self) -> None:
        """Write everything noted so far now."""
        updates, self._updates = self._updates, {}
        closed, self._closed = self._closed, set()
        now_ms = self._now_ms()
        relist_after_ms = now_ms - self.directory.entry_ttl_s * 500
        if len(self._listed_ms) > self.max_pending:  # rooms gone without a close: bounded
            self._listed_ms.clear()
        items: list[tuple[str, tuple[RoomInfo, Frame] | None]] = [
            *updates.items(), *((room_id, None) for room_id in closed)]
        for start in range(0, len(items), self.chunk):
            part = items[start : start + self.chunk]
            try:
                async with self.directory.redis.pipeline(transaction=False) as pipe:
                    for room_id, update in part:
                        if update is None:
                            self.directory.queue_close(pipe, room_id)
                        else:
                            relist = self._listed_ms.get(room_id, 0) <= relist_after_ms
                            self.directory.queue_update(pipe, update[0], update[1], now_ms,
                                                        relist=relist)
                    await pipe.execute()
                for room_id, update in part:
                    if update is not None and (
                            self._listed_ms.get(room_id, 0) <= relist_after_ms):
                        self._listed_ms[room_id] = now_ms
                self.writes += 1
            except Exception:
                # Closings are retried (an entry of a closed room would linger until its
                # TTL); a lost update is superseded by the room's next one.
                for room_id, update in items[start:]:
                    if update is None and len(self._closed) < self.max_pending:
                        self._closed.add(room_id)
                raise

    async def aclose(self) -> None:
        """Write what is left and stop the writer (node shutdown)."""
        self._stopping = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None
        with contextlib.suppress(Exception):
            await self.flush()


async def run_heartbeat(
    directory: RoomDirectory, node_id: str, room_count: Callable[[], int], stop: asyncio.Event,
    *, interval_s: float = 5.0, ttl_s: int = 15,
) -> None:
    """Refresh the node's heartbeat until `stop` is set, then remove it so others see us gone.

    Stopping through the event (not cancellation) never interrupts a Redis command half-way.
    A failed beat is logged and retried on the next interval.
    """
    assert 0 < interval_s < ttl_s, "a beat must land before the previous one expires"
    while not stop.is_set():
        try:
            await directory.heartbeat(node_id, ttl_s, room_count())
        except Exception:
            log.warning("rooms_heartbeat_failed", node=node_id, exc_info=True)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(interval_s):
                await stop.wait()
    with contextlib.suppress(Exception):
        await directory.remove_node(node_id)
