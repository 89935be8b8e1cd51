"""Wiring of weekly pools: routes, websocket messages, the week job (docs/pools.md)."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from typing import Any

import structlog

from competitions.pools import weeks
from server.features.pools import feed, settle
from server.features.pools.board import MAX_WATCHED_PER_CONNECTION, Boards, Stream
from server.features.pools.errors import PoolError
from server.features.pools.http import POOLS, routes, svc_of
from server.features.pools.service import PoolsService
from server.features.pools.settings import PoolsSettings
from server.gateway.registry import Connection, field, on_disconnect, register
from server.state import AppState, Slot

log = structlog.get_logger(__name__)

STREAM: Slot[Stream] = Slot("pools_stream", Stream)
# Tests (and embedders) may hand the feature its settings before start-up.
CONFIG: Slot[PoolsSettings] = Slot("pools_config", PoolsSettings)
MAX_JOB_FAILURE_BACKOFF_S = 300.0

__all__ = ["job_once", "routes", "shutdown", "startup"]


async def job_once(svc: PoolsService) -> dict[str, Any]:
    """One pass of the week job: open weeks, draw a started week, settle graded events,
    finalize an ended week. Safe on every node at once (locks and exactly-once steps)."""
    now = svc.now()
    this = weeks.week_of(now)
    for w in (this, this.next()):
        await svc.ensure_week(w)
    drew = await svc.run_draw(this)
    graded = await settle.settle_pending(svc)
    finalized = False
    for row in await svc.pool.fetch(
            "SELECT id FROM pool_weeks WHERE state = 'grouped' AND end_ms <= $1 ORDER BY id"
            " LIMIT 10", now):
        finalized = await svc.finalize(weeks.parse_week_id(row["id"])) or finalized
    return {"drew": drew, "bets_graded": graded, "finalized": finalized}


async def _job_loop(svc: PoolsService) -> None:
    backoff = svc.cfg.job_interval_s
    feed_due = 0.0
    loop = asyncio.get_running_loop()
    while True:
        await asyncio.sleep(backoff)  # first after one period: start-up stays quick
        try:
            if svc.cfg.feed_file or svc.cfg.feed_url:
                if loop.time() >= feed_due:
                    feed_due = loop.time() + svc.cfg.feed_interval_s
                    data = await feed.load(svc, svc.cfg.feed_file or svc.cfg.feed_url)
                    await feed.import_odds(svc, data)
            await job_once(svc)
            backoff = svc.cfg.job_interval_s
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("pool_job_failed")
            backoff = min(MAX_JOB_FAILURE_BACKOFF_S, backoff * 2)


async def startup(state: AppState, cfg: PoolsSettings | None = None) -> None:
    cfg = cfg or state.find(CONFIG) or PoolsSettings()
    if not cfg.enabled:
        return
    svc = state.provide(POOLS, PoolsService(state, cfg, Boards(state)))
    stream = state.provide(STREAM, Stream(state))
    await stream.start()
    if cfg.job_interval_s > 0:
        state.spawn(_job_loop(svc), "pool-week-job")


async def shutdown(state: AppState) -> None:
    stream = state.drop(STREAM)
    if stream is not None:
        await stream.close()
    state.drop(POOLS)


async def pool_watch(conn: Connection, frame: dict[str, Any]) -> dict[str, Any] | None:
    """Watch a pool's board (your own this week when pool_id is absent): the reply is the
    snapshot; pushes follow as `pool_board` frames with increasing `seq`."""
    svc = svc_of(conn.state)
    stream = conn.state.need(STREAM)
    pool_id = field(frame, "pool_id", str, required=False)
    if pool_id is None:
        member = await svc.member_json(weeks.week_of(svc.now()), uuid.UUID(conn.user_id))
        if member is None:
            raise PoolError("not_in_a_pool", "You are not in a pool this week.", 404)
        pool_id = str(member["pool_id"])
    try:
        pool_id = str(uuid.UUID(pool_id))
    except ValueError as exc:
        raise PoolError("pool_not_found", "No such pool.", 404) from exc
    if not await svc.pool.fetchval("SELECT 1 FROM pool_pools WHERE id = $1", uuid.UUID(pool_id)):
        raise PoolError("pool_not_found", "No such pool.", 404)
    if stream.watched_by(conn) >= MAX_WATCHED_PER_CONNECTION:
        raise PoolError("too_many_watches", "You are watching too many pools at once.", 429)
    await stream.watch(conn, pool_id)
    return await svc.boards.snapshot(pool_id)


async def pool_unwatch(conn: Connection, frame: dict[str, Any]) -> dict[str, Any] | None:
    pool_id = field(frame, "pool_id", str, required=False)
    await conn.state.need(STREAM).unwatch(conn, pool_id)
    return None


async def _gone(conn: Connection) -> None:
    stream = conn.state.find(STREAM)
    if stream is not None:
        with contextlib.suppress(Exception):
            await stream.unwatch(conn)


register("pool_watch", pool_watch)
register("pool_unwatch", pool_unwatch)
on_disconnect(_gone)
