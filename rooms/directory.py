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
    snapshot: dict[str, Any] | None


class RoomDirectory:
    """Implements `RoomObserver` for the runtime and the read side for any node."""

    def __init__(self, redis: Redis, prefix: str, *, entry_ttl_s: int = 120) -> None:
        assert entry_ttl_s > 0
        self.redis = redis
        self.prefix = prefix
        self.entry_ttl_s = entry_ttl_s

    async def room_updated(self, info: RoomInfo, public_state: Frame) -> None:
        expires_ms = int(time.time() * 1000) + self.entry_ttl_s * 1000
        info_key = keys.room(self.prefix, info.room_id)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.set(info_key, json.dumps(info.to_dict()), ex=self.entry_ttl_s)
            pipe.set(
                keys.snapshot(self.prefix, info.room_id),
                json.dumps({"seq": info.seq, "phase": info.phase, "state": public_state}),
                ex=self.entry_ttl_s,
            )
            pipe.zadd(keys.live(self.prefix), {info.room_id: expires_ms})
            await pipe.execute()

    async def room_closed(self, room_id: str) -> None:
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.delete(keys.room(self.prefix, room_id), keys.snapshot(self.prefix, room_id))
            pipe.zrem(keys.live(self.prefix), room_id)
            await pipe.execute()

    async def get(self, room_id: str) -> DirectoryEntry | None:
        raw_info, raw_snap = await self.redis.mget(
            keys.room(self.prefix, room_id), keys.snapshot(self.prefix, room_id)
        )
        if raw_info is None:
            return None
        return DirectoryEntry(json.loads(raw_info), json.loads(raw_snap) if raw_snap else None)

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
        return [json.loads(r) for r in raws if r is not None]

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
            await asyncio.wait_for(stop.wait(), interval_s)
    with contextlib.suppress(Exception):
        await directory.remove_node(node_id)
