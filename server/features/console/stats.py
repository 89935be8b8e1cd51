"""Live figures for the admin dashboard, from every node.

Each node writes its own figures (open sockets, live rooms, pairings in the last
minute) to one Redis hash every `NODE_BEAT_S`; the dashboard reads the hash and
drops nodes silent for `NODE_STALE_MS`. Queue depths come from the matchmaking
queues, rooms per game from the room directory, the outbox backlog from Postgres.
The ledger's invariants are checked at most every `LEDGER_CHECK_EVERY_MS` by one
node at a time (a Redis lock) and the verdict is shared through Redis.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections import deque
from typing import Any, Final

import structlog

from ledger.errors import InvariantViolation
from server import metrics
from server.features.play.service import PLAY
from server.gateway.ws import HUB
from server.state import AppState

log = structlog.get_logger(__name__)

NODE_BEAT_S: Final = 2.0
NODE_STALE_MS: Final = 15_000
MAX_NODES: Final = 256
RATE_WINDOW_MS: Final = 60_000
MAX_SAMPLES: Final = 64
LEDGER_CHECK_EVERY_MS: Final = 30_000
LEDGER_LOCK_S: Final = 120
MAX_ROOMS_SCANNED: Final = 1_000


def _nodes_key(state: AppState) -> str:
    return f"{state.settings.redis_prefix}:console:nodes"


def _ledger_key(state: AppState) -> str:
    return f"{state.settings.redis_prefix}:console:ledger"


def matches_total() -> int:
    """Pairings made by this process so far (the matchmaking counter, every game)."""
    return int(sum(s.value for m in metrics.MATCHES_MADE.collect() for s in m.samples
                   if s.name.endswith("_total")))


class NodeSampler:
    """This node's figures, including pairings over the last minute from counter samples."""

    def __init__(self, state: AppState) -> None:
        self.state = state
        self.samples: deque[tuple[int, int]] = deque(maxlen=MAX_SAMPLES)

    def figures(self) -> dict[str, Any]:
        now = self.state.clock.now_ms()
        total = matches_total()
        self.samples.append((now, total))
        while self.samples and now - self.samples[0][0] > RATE_WINDOW_MS:
            self.samples.popleft()
        first_ms, first_total = self.samples[0]
        span_ms = max(now - first_ms, 1)
        per_min = (total - first_total) * RATE_WINDOW_MS / span_ms if span_ms >= 5_000 else \
            float(total - first_total)
        hub = self.state.find(HUB)
        play = self.state.find(PLAY)
        return {
            "node": self.state.settings.node_id, "at_ms": now,
            "connections": hub.connection_count if hub is not None else 0,
            "rooms": play.rooms.room_count if play is not None else 0,
            "pairings_per_min": round(per_min, 1), "draining": self.state.draining,
        }

    async def beat(self) -> None:
        await self.state.redis.hset(_nodes_key(self.state), self.state.settings.node_id,
                                    json.dumps(self.figures()))

    async def run(self) -> None:
        while True:
            try:
                await self.beat()
            except Exception:
                log.warning("console_node_beat_failed", exc_info=True)
            await asyncio.sleep(NODE_BEAT_S)


async def nodes(state: AppState) -> list[dict[str, Any]]:
    key = _nodes_key(state)
    raw = await state.redis.hgetall(key)
    now = state.clock.now_ms()
    live: list[dict[str, Any]] = []
    stale: list[Any] = []
    for field, value in list(raw.items())[:MAX_NODES]:
        item = json.loads(value)
        if now - int(item.get("at_ms", 0)) > NODE_STALE_MS:
            stale.append(field)
        else:
            live.append(item)
    if stale:
        await state.redis.hdel(key, *stale)
    return sorted(live, key=lambda n: str(n["node"]))


async def ledger_status(state: AppState) -> dict[str, Any]:
    """The latest invariant verdict; re-checked here if older than LEDGER_CHECK_EVERY_MS."""
    key = _ledger_key(state)
    raw = await state.redis.get(key)
    now = state.clock.now_ms()
    status: dict[str, Any] | None = json.loads(raw) if raw else None
    if status is not None and now - int(status["checked_at_ms"]) < LEDGER_CHECK_EVERY_MS:
        return status
    lock = key + ":lock"
    if not await state.redis.set(lock, state.settings.node_id, nx=True, ex=LEDGER_LOCK_S):
        return status or {"ok": None, "checked_at_ms": None, "findings": None}
    try:
        try:
            await state.ledger.check_invariants()
            status = {"ok": True, "checked_at_ms": now, "findings": None}
        except InvariantViolation as exc:
            status = {"ok": False, "checked_at_ms": now, "findings": str(exc)[:2000]}
        await state.redis.set(key, json.dumps(status), ex=3600)
    finally:
        with contextlib.suppress(Exception):
            await state.redis.delete(lock)
    return status


async def dashboard(state: AppState) -> dict[str, Any]:
    play = state.find(PLAY)
    queues: list[dict[str, Any]] = []
    rooms_by_game: dict[str, int] = {}
    if play is not None:
        for kind in play.kinds.values():
            rooms_by_game[kind.name] = 0
            for spec in kind.queues:
                queues.append({"game": spec.game, "stake_minor": spec.stake_minor,
                               "currency": spec.currency,
                               "waiting": await kind.matchmaker.queue_length(spec)})
        for room in await play.directory.list_live(MAX_ROOMS_SCANNED):
            game = str(room.get("game"))
            rooms_by_game[game] = rooms_by_game.get(game, 0) + 1
    node_list = await nodes(state)
    outbox = await state.pool.fetchrow(
        "SELECT count(*) FILTER (WHERE state = 'pending') AS pending,"
        " count(*) FILTER (WHERE state = 'failed') AS failed,"
        " extract(epoch FROM now() - min(created_at) FILTER (WHERE state = 'pending'))"
        "   AS oldest_s FROM outbox")
    waiting = await state.pool.fetchrow(
        "SELECT (SELECT count(*) FROM deposit_requests WHERE state = 'pending') AS deposits,"
        " (SELECT count(*) FROM withdrawal_requests WHERE state = 'pending') AS withdrawals")
    assert outbox is not None and waiting is not None
    return {
        "at_ms": state.clock.now_ms(),
        "nodes": node_list,
        "connections": sum(int(n["connections"]) for n in node_list),
        "pairings_per_min": round(sum(float(n["pairings_per_min"]) for n in node_list), 1),
        "rooms_by_game": rooms_by_game,
        "rooms_live": sum(rooms_by_game.values()),
        "queues": queues,
        "outbox": {"pending": outbox["pending"], "failed": outbox["failed"],
                   "oldest_s": int(outbox["oldest_s"]) if outbox["oldest_s"] else 0},
        "pending_deposits": waiting["deposits"], "pending_withdrawals": waiting["withdrawals"],
        "ledger": await ledger_status(state),
        "currency": state.settings.currency, "money_mode": state.settings.money_mode,
    }
