"""Rooms whose node died: their stakes are voided by a surviving node (DESIGN: scale-out).

Every room with stakes at risk is recorded in Redis when it is created (node,
seats, hold ids) and forgotten when it closes. Each node periodically looks for
records whose node no longer has a heartbeat and voids their holds through the
same settlement as an aborted room: idempotent by room id, so a duel that did
settle before its node died keeps its result, and two reapers cannot refund
twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from typing import Any, cast

import structlog

from rooms.api import Outcome
from rooms.settlement import SettlementDeferred, Settler
from rooms.types import HeldStake, MatchSpec
from server import keys
from server.gateway.events import publish_to_user
from server.state import AppState

log = structlog.get_logger(__name__)

MAX_SCAN = 500
RECORD_TTL_S = 7 * 24 * 3600
# A record of this node whose room is not live is left from before a restart; one younger
# than this may belong to a room being created right now, so it is left alone.
OWN_RECORD_MIN_AGE_MS = 120_000


def seats_json(node_id: str, game: str, seats: tuple[HeldStake, ...]) -> str:
    return json.dumps({
        "node": node_id, "game": game,
        "seats": [{"user_id": s.user_id, "hold_id": str(s.hold_id),
                   "stake_minor": s.stake_minor, "currency": s.currency} for s in seats],
    })


async def remember(state: AppState, room_id: str, game: str, seats: tuple[HeldStake, ...],
                   created_ms: int) -> None:
    """Record a new room's stakes before anyone is told about it."""
    prefix = state.settings.redis_prefix
    async with state.redis.pipeline(transaction=True) as pipe:
        pipe.set(keys.play_room(prefix, room_id), seats_json(state.settings.node_id, game, seats),
                 ex=RECORD_TTL_S)
        pipe.zadd(keys.play_rooms(prefix), {room_id: created_ms})
        await pipe.execute()


async def forget(state: AppState, room_id: str) -> None:
    prefix = state.settings.redis_prefix
    async with state.redis.pipeline(transaction=True) as pipe:
        pipe.delete(keys.play_room(prefix, room_id))
        pipe.zrem(keys.play_rooms(prefix), room_id)
        await pipe.execute()


class RoomRecords:
    """This node's failover records: written with the news of a room, forgotten in batches.

    `write_into` adds a new room's record to the caller's MULTI, the one that also tells
    the players about the room: the record is in Redis before (atomically with) anyone
    hears of it, in the same round trip. `forget` is not urgent (the reaper leaves a fresh
    record of this node alone, and settling a settled room again changes nothing), so it
    is only noted and sent with the others every `forget_every_s`.
    """

    def __init__(self, state: AppState, *, forget_every_s: float = 0.2,
                 max_pending: int = 50_000) -> None:
        assert forget_every_s > 0 and max_pending > 0
        self.state = state
        self.forget_every_s = forget_every_s
        self.max_pending = max_pending
        self._forget: set[str] = set()
        self._forget_task: asyncio.Task[None] | None = None

    def write_into(self, pipe: Any, room_id: str, game: str, seats: tuple[HeldStake, ...],
                   created_ms: int) -> None:
        """Queue the record of a new room on `pipe` (a transaction the caller executes)."""
        prefix = self.state.settings.redis_prefix
        pipe.set(keys.play_room(prefix, room_id),
                 seats_json(self.state.settings.node_id, game, seats), ex=RECORD_TTL_S)
        pipe.zadd(keys.play_rooms(prefix), {room_id: created_ms})

    def forget(self, room_id: str) -> None:
        """The room closed: its record goes with the next write (within `forget_every_s`)."""
        if len(self._forget) >= self.max_pending:
            log.warning("room_forget_backlog_full", room_id=room_id)
            return  # left to the reaper, which settles nothing twice
        self._forget.add(room_id)
        if self._forget_task is None:
            self._forget_task = asyncio.get_running_loop().create_task(
                self._forget_loop(), name="room-records-forget")

    async def _forget_loop(self) -> None:
        while True:
            await asyncio.sleep(self.forget_every_s)
            if self._forget:
                await self.flush_forgotten()

    async def flush_forgotten(self) -> None:
        gone, self._forget = self._forget, set()
        prefix = self.state.settings.redis_prefix
        ids = list(gone)
        for start in range(0, len(ids), 500):
            part = ids[start : start + 500]
            try:
                async with self.state.redis.pipeline(transaction=True) as pipe:
                    pipe.delete(*(keys.play_room(prefix, r) for r in part))
                    pipe.zrem(keys.play_rooms(prefix), *part)
                    await pipe.execute()
            except Exception:
                log.warning("room_forget_failed", rooms=len(part), exc_info=True)
                self._forget.update(ids[start:][: self.max_pending - len(self._forget)])
                return

    async def aclose(self) -> None:
        task, self._forget_task = self._forget_task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        with contextlib.suppress(Exception):
            await self.flush_forgotten()


async def reap_once(state: AppState, settlement: Settler, is_live_here: Any,
                    node_alive: Any, now_ms: int) -> int:
    """Void the stakes of rooms whose node has no heartbeat; return how many were reaped."""
    prefix = state.settings.redis_prefix
    scored = cast(
        list[tuple[Any, float]],
        await state.redis.zrange(keys.play_rooms(prefix), 0, MAX_SCAN - 1, withscores=True),
    )
    reaped = 0
    for raw_id, created_ms in scored:
        room_id = raw_id.decode() if isinstance(raw_id, bytes) else str(raw_id)
        if is_live_here(room_id):
            continue
        raw = await state.redis.get(keys.play_room(prefix, room_id))
        if raw is None:
            await state.redis.zrem(keys.play_rooms(prefix), room_id)
            continue
        record = json.loads(raw)
        node = record["node"]
        if node == state.settings.node_id:
            if now_ms - int(created_ms) < OWN_RECORD_MIN_AGE_MS or is_live_here(room_id):
                continue
        elif await node_alive(node):
            continue
        seats = tuple(
            HeldStake(s["user_id"], uuid.UUID(s["hold_id"]), int(s["stake_minor"]), s["currency"])
            for s in record["seats"]
        )
        try:
            result = await settlement.settle(
                MatchSpec(room_id, record["game"], seats),
                Outcome.refund_all(seats, result="aborted"),
            )
        except SettlementDeferred:  # its kind resumes it elsewhere; nothing to return here
            await forget(state, room_id)
            continue
        await forget(state, room_id)
        reaped += 1
        log.warning("room_reaped", room_id=room_id, node=node, replayed=result.replayed)
        for s in seats:
            with contextlib.suppress(Exception):
                await publish_to_user(state, s.user_id, {
                    "t": "room_aborted", "room_id": room_id, "reason": "node_lost",
                    "refunded": result.refunded,
                })
    return reaped


async def run(state: AppState, settlement: Settler, is_live_here: Any,
              node_alive: Any, stop: asyncio.Event, interval_s: float) -> None:
    """Reap on every node, every `interval_s`, until `stop` is set."""
    assert interval_s > 0
    while not stop.is_set():
        try:
            await reap_once(state, settlement, is_live_here, node_alive, state.clock.now_ms())
        except Exception:
            log.exception("room_reap_failed")
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(interval_s):
                await stop.wait()
