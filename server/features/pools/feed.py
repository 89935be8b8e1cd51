"""The Odds API v4 adapter: odds (`/v4/sports/{sport}/odds`) and scores (`.../scores`).

Odds: a JSON list of events `{id, sport_key, commence_time, home_team, away_team,
bookmakers: [{key, markets: [{key: h2h|spreads|totals, outcomes: [{name, price, point?}]}]}]}`
with `oddsFormat=american`. Only the configured bookmaker is read. h2h outcomes named after
the home or away team are the moneyline sides, "Draw" makes it three-way; spreads name a
team with its `point`; totals are "Over"/"Under" with the `point`. Anything else is skipped.
Scores: `{id, completed, scores: [{name, score}]}`; a completed event becomes a final result.
The feed is read from a file or a URL (with `apiKey`), bounded in size and events.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import structlog

from server.features.pools import events as ev
from server.features.pools.errors import PoolError
from server.features.pools.service import PoolsService, ident

log = structlog.get_logger(__name__)

MAX_FEED_BYTES = 4 * 1024 * 1024
MAX_FEED_EVENTS = 2000
FEED_TIMEOUT_S = 15.0


def _ms(text: str) -> int:
    return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() * 1000)


def parse_odds(data: Any, bookmaker: str) -> list[dict[str, Any]]:
    """Events with their offers (ev.Offer) from an odds response, for one bookmaker."""
    if not isinstance(data, list):
        raise PoolError("feed_invalid", "The odds feed is not a list of events.")
    out: list[dict[str, Any]] = []
    for item in data[:MAX_FEED_EVENTS]:
        try:
            home, away = str(item["home_team"]), str(item["away_team"])
            book = next((b for b in item.get("bookmakers", []) if b.get("key") == bookmaker),
                        None)
            offers: list[ev.Offer] = []
            three_way = False
            for market in (book or {}).get("markets", []):
                key = market.get("key")
                for o in market.get("outcomes", []):
                    name, price, point = o.get("name"), int(o["price"]), o.get("point")
                    if key == "h2h":
                        side = {home: "home", away: "away", "Draw": "draw"}.get(name)
                        three_way = three_way or side == "draw"
                        if side:
                            offers.append(ev.Offer("moneyline", side, None, price))
                    elif key == "spreads" and point is not None:
                        side = {home: "home", away: "away"}.get(name)
                        if side:
                            offers.append(ev.Offer("spread", side, float(point), price))
                    elif key == "totals" and point is not None and name in ("Over", "Under"):
                        offers.append(ev.Offer("total", name.lower(), float(point), price))
            out.append({"ext_id": str(item["id"]), "sport": str(item.get("sport_key", "")),
                        "home": home, "away": away, "commence_ms": _ms(item["commence_time"]),
                        "three_way": three_way, "offers": offers})
        except (KeyError, TypeError, ValueError):
            log.warning("pool_feed_event_skipped", item=str(item)[:200])
    return out


def parse_scores(data: Any) -> list[dict[str, Any]]:
    """Completed events' final scores from a scores response."""
    out: list[dict[str, Any]] = []
    if not isinstance(data, list):
        raise PoolError("feed_invalid", "The scores feed is not a list of events.")
    for item in data[:MAX_FEED_EVENTS]:
        try:
            if not item.get("completed"):
                continue
            scores = {s["name"]: int(s["score"]) for s in item.get("scores") or []}
            out.append({"ext_id": str(item["id"]), "home": scores[item["home_team"]],
                        "away": scores[item["away_team"]]})
        except (KeyError, TypeError, ValueError):
            log.warning("pool_feed_score_skipped", item=str(item)[:200])
    return out


async def load(svc: PoolsService, source: str) -> Any:
    """The JSON at `source`: a file path, or an http(s) URL (apiKey and the query added)."""
    import json

    if source.startswith(("http://", "https://")):
        params = {"apiKey": svc.cfg.feed_api_key, "markets": "h2h,spreads,totals",
                  "oddsFormat": "american", "bookmakers": svc.cfg.feed_bookmaker}
        async with httpx.AsyncClient(timeout=FEED_TIMEOUT_S) as http:
            r = await http.get(source, params=params)
            r.raise_for_status()
            if len(r.content) > MAX_FEED_BYTES:
                raise PoolError("feed_invalid", "The feed is too large.")
            return r.json()
    raw = await asyncio.to_thread(Path(source).read_bytes)
    if len(raw) > MAX_FEED_BYTES:
        raise PoolError("feed_invalid", "The feed is too large.")
    return json.loads(raw)


async def import_odds(svc: PoolsService, data: Any) -> int:
    """Create or update every event of an odds response; the number of events read."""
    n = 0
    for e in parse_odds(data, svc.cfg.feed_bookmaker):
        if not e["offers"]:
            continue
        await ev.upsert_event(svc, ext_id=e["ext_id"], sport=e["sport"], home=e["home"],
                              away=e["away"], commence_ms=e["commence_ms"],
                              three_way=e["three_way"], offers=e["offers"])
        n += 1
    return n


async def import_scores(svc: PoolsService, data: Any) -> int:
    """Record final results of completed events the pools know; the number recorded."""
    n = 0
    for s in parse_scores(data):
        eid = ident("event", s["ext_id"])
        if await svc.pool.fetchval("SELECT 1 FROM pool_events WHERE id = $1", eid):
            await ev.set_result(svc, str(eid), "final", s["home"], s["away"])
            n += 1
    return n
