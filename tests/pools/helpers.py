"""Helpers for pool tests: a week of its own per test, players, events, the mirror check."""

from __future__ import annotations

import itertools
import uuid
from datetime import date, timedelta
from typing import Any

from competitions.pools.weeks import Week
from ledger import user_account
from server.features.pools.events import Offer, upsert_event
from server.features.pools.http import POOLS
from server.features.pools.service import PoolsService
from tests.server.gateway_helpers import new_player

HOUR = 3600 * 1000
_weeks = itertools.count(1)
BASE_MONDAY = date(2031, 1, 6)  # a Monday; every test takes a week of its own after it


def svc_of(server: Any) -> PoolsService:
    svc: PoolsService = server.state.need(POOLS)
    return svc


def fresh_week() -> Week:
    """A week no other test uses (pool weeks are shared rows of the session's database)."""
    return Week(BASE_MONDAY + timedelta(weeks=2 * next(_weeks) + 1000 * os_salt()))


def os_salt() -> int:
    # Several test modules in one session share the counter; runs in one DB never overlap.
    return 0


def set_time(server: Any, ms: int) -> None:
    server.state.clock._now_ms = ms


async def drawn_week(server: Any, players: int) -> tuple[Week, list[tuple[str, str]]]:
    """A fresh week whose `players` new players hold passes, drawn; [(user_id, token)]."""
    svc = svc_of(server)
    week = fresh_week()
    set_time(server, week.start_ms - 24 * HOUR)
    await svc.ensure_week(week)
    made: list[tuple[str, str]] = []
    for _ in range(players):
        user, token = await new_player(server.state)
        async with svc.pool.acquire() as conn:
            await svc.grant_pass(conn, week.id, uuid.UUID(user.id), "admin", None)
        made.append((user.id, token))
    set_time(server, week.start_ms)
    assert await svc.run_draw(week)
    return week, made


async def event(server: Any, week: Week, *, starts_h: int = 48, three_way: bool = False,
                offers: list[Offer] | None = None) -> dict[str, Any]:
    offers = offers or [
        Offer("moneyline", "home", None, -150), Offer("moneyline", "away", None, 130),
        Offer("spread", "home", -3.5, -110), Offer("spread", "away", 3.5, -110),
        Offer("total", "over", 44.0, -110), Offer("total", "under", 44.0, -110)]
    if three_way:
        offers = [*offers, Offer("moneyline", "draw", None, 250)]
    return await upsert_event(svc_of(server), ext_id=None, sport="test", home="Home FC",
                              away="Away FC", commence_ms=week.start_ms + starts_h * HOUR,
                              three_way=three_way, offers=offers)


def selection(ev: dict[str, Any], market: str, side: str) -> str:
    return next(s["id"] for s in ev["selections"] if s["market"] == market and s["side"] == side)


async def credits(server: Any, week: Week, user_id: str) -> int:
    """The member's credits, checked equal in the ledger and the mirror row."""
    svc = svc_of(server)
    bal = await server.state.ledger.balance(user_account(user_id), week.currency)
    mirror = await svc.pool.fetchval(
        "SELECT credits FROM pool_members WHERE week_id = $1 AND user_id = $2", week.id,
        uuid.UUID(user_id))
    assert bal.available_minor == mirror, (bal, mirror)
    return int(mirror)
