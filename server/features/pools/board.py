"""Live leaderboards: one Redis sorted set per pool, pushed to watchers over pub/sub.

Redis keys (all under `settings.redis_prefix`, hash-tagged by pool so a pool's keys share a
Cluster slot):
- `<p>:pool:{<pool id>}:lb`  sorted set: member = user id, score = bankroll * 1024 + (1023 - seat),
  so the set's own order is the listing order (bankroll, then seat) and the bankroll is
  `score // 1024` (exact: bankrolls stay far below 2^43 credits);
- `<p>:pool:{<pool id>}:seq` integer: the board's sequence number, one step per push;
- channel `<p>:pool:{<pool id>}:ch`: every push, a whole `pool_board` frame (a pool holds at
  most 1000 members, so a push is its own snapshot and a client resyncs by asking again).

Postgres is the truth (pool_members.credits + open_stake); if Redis loses a set, the next
read rebuilds it from there.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Iterable
from typing import Any

import msgpack
import structlog
from redis.asyncio import Redis

from competitions.pools.ranking import Entry, rank
from server.gateway.connection import Connection
from server.state import AppState

log = structlog.get_logger(__name__)

SEAT_BITS = 1024
MAX_WATCHERS_PER_POOL = 10_000
MAX_WATCHED_PER_CONNECTION = 8
READ_WAIT_S = 1.0


def lb_key(prefix: str, pool_id: str) -> str:
    return f"{prefix}:pool:{{{pool_id}}}:lb"


def seq_key(prefix: str, pool_id: str) -> str:
    return f"{prefix}:pool:{{{pool_id}}}:seq"


def channel(prefix: str, pool_id: str) -> str:
    return f"{prefix}:pool:{{{pool_id}}}:ch"


def score_of(bankroll: int, seat: int) -> int:
    assert 1 <= seat < SEAT_BITS and bankroll >= 0
    return bankroll * SEAT_BITS + (SEAT_BITS - 1 - seat)


def unpack(score: float) -> tuple[int, int]:
    """(bankroll, seat) of a score."""
    s = int(score)
    return s // SEAT_BITS, SEAT_BITS - 1 - s % SEAT_BITS


class Boards:
    """Reads and writes pool boards; publishes every change as a whole `pool_board` frame."""

    def __init__(self, state: AppState) -> None:
        self.state = state
        self.prefix = state.settings.redis_prefix
        self.redis: Redis = state.redis

    async def _members(self, pool_id: str) -> list[Any]:
        return list(await self.state.pool.fetch(
            "SELECT m.user_id, m.seat, m.credits + m.open_stake AS bankroll, u.display_name"
            " FROM pool_members m JOIN users u ON u.id = m.user_id WHERE m.pool_id = $1",
            uuid.UUID(pool_id)))

    async def rebuild(self, pool_id: str) -> None:
        """Write the pool's set from Postgres (after Redis lost it, or after a draw)."""
        rows = await self._members(pool_id)
        key = lb_key(self.prefix, pool_id)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.delete(key)
            if rows:
                pipe.zadd(key, {str(r["user_id"]): score_of(max(0, r["bankroll"]), r["seat"])
                                for r in rows})
            await pipe.execute()

    async def snapshot(self, pool_id: str) -> dict[str, Any]:
        """The pool's `pool_board` frame, rebuilding the set first if Redis lost it."""
        key = lb_key(self.prefix, pool_id)
        if not await self.redis.exists(key):
            await self.rebuild(pool_id)
        raw: Any = await self.redis.zrevrange(key, 0, -1, withscores=True)
        seq = int(await self.redis.get(seq_key(self.prefix, pool_id)) or 0)
        names = {str(r["user_id"]): r["display_name"] for r in await self._names(pool_id)}
        entries = []
        for member, score in raw:
            bankroll, seat = unpack(score)
            entries.append(Entry(member.decode(), bankroll, seat))
        standings = [{"user_id": s.key, "name": names.get(s.key, ""), "seat": s.seat,
                      "credits": s.score, "rank": s.rank} for s in rank(entries)]
        return {"t": "pool_board", "pool_id": pool_id, "seq": seq, "standings": standings}

    async def _names(self, pool_id: str) -> list[Any]:
        return list(await self.state.pool.fetch(
            "SELECT m.user_id, u.display_name FROM pool_members m JOIN users u"
            " ON u.id = m.user_id WHERE m.pool_id = $1", uuid.UUID(pool_id)))

    async def refresh(self, pool_ids: Iterable[str], changed: Iterable[str] = ()) -> None:
        """Re-read the members of `pool_ids` from Postgres, write their sets, push each board."""
        changed_set = sorted(set(changed))
        for pool_id in sorted(set(pool_ids)):
            rows = await self._members(pool_id)
            key = lb_key(self.prefix, pool_id)
            if rows:
                await self.redis.zadd(key, {str(r["user_id"]):
                                            score_of(max(0, r["bankroll"]), r["seat"])
                                            for r in rows})
            await self.redis.incr(seq_key(self.prefix, pool_id))
            frame = await self.snapshot(pool_id)
            mine = {r["user_id"] for r in rows}
            frame["changed"] = [u for u in changed_set if uuid.UUID(u) in mine]
            await self.redis.publish(channel(self.prefix, pool_id),
                                     msgpack.packb(frame, use_bin_type=True))


class Stream:
    """This node's watchers of pool boards and its one pub/sub link to their channels."""

    def __init__(self, state: AppState) -> None:
        self.state = state
        self.prefix = state.settings.redis_prefix
        self.watchers: dict[str, set[Connection]] = {}
        self._pubsub = state.redis.pubsub(ignore_subscribe_messages=True)
        self._task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()

    async def start(self) -> None:
        # A channel of its own keeps the pub/sub connection subscribed, so reads are valid.
        await self._pubsub.subscribe(channel(self.prefix, "node-" + self.state.settings.node_id))
        self._task = self.state.spawn(self._read_loop(), "pool-board-stream")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(BaseException):
                await self._task
        with contextlib.suppress(Exception):
            await self._pubsub.aclose()  # type: ignore[no-untyped-call]

    async def watch(self, conn: Connection, pool_id: str) -> None:
        watched = sum(1 for conns in self.watchers.values() if conn in conns)
        async with self._lock:
            conns = self.watchers.setdefault(pool_id, set())
            if conn in conns:
                return
            assert len(conns) < MAX_WATCHERS_PER_POOL, "too many watchers of one pool"
            assert watched < MAX_WATCHED_PER_CONNECTION
            conns.add(conn)
            if len(conns) == 1:
                await self._pubsub.subscribe(channel(self.prefix, pool_id))

    async def unwatch(self, conn: Connection, pool_id: str | None = None) -> None:
        async with self._lock:
            for pid in [pool_id] if pool_id else list(self.watchers):
                conns = self.watchers.get(pid)
                if conns is None or conn not in conns:
                    continue
                conns.discard(conn)
                if not conns:
                    del self.watchers[pid]
                    await self._pubsub.unsubscribe(channel(self.prefix, pid))

    def watched_by(self, conn: Connection) -> int:
        return sum(1 for conns in self.watchers.values() if conn in conns)

    async def _read_loop(self) -> None:
        head = f"{self.prefix}:pool:{{"
        while True:
            try:
                message = await self._pubsub.get_message(timeout=READ_WAIT_S)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("pool_stream_read_failed", exc_info=True)
                await asyncio.sleep(READ_WAIT_S)
                continue
            if message is None or message.get("type") != "message":
                continue
            name = message["channel"].decode()
            if not name.startswith(head):
                continue
            pool_id = name[len(head):].split("}", 1)[0]
            try:
                frame = msgpack.unpackb(message["data"], raw=False)
            except Exception:
                continue
            for conn in list(self.watchers.get(pool_id, ())):
                if not conn.closing:
                    conn.send(frame)
