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
            await asyncio.wait_for(stop.wait(), interval_s)
