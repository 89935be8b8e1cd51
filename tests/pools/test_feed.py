"""The Odds API v4 adapter: one bookmaker's h2h/spreads/totals become events and markets."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from server.features.pools import feed
from server.features.pools.events import event_detail
from server.features.pools.service import ident
from tests.pools.helpers import fresh_week, set_time, svc_of


def odds_response(commence: str) -> list[dict[str, Any]]:
    return [{
        "id": "e912304de2b2ce35b473ce2ecd3d1502", "sport_key": "soccer_epl",
        "commence_time": commence, "home_team": "Arsenal", "away_team": "Chelsea",
        "bookmakers": [
            {"key": "fanduel", "markets": [{"key": "h2h", "outcomes": [
                {"name": "Arsenal", "price": 999}, {"name": "Chelsea", "price": 999}]}]},
            {"key": "draftkings", "title": "DraftKings", "markets": [
                {"key": "h2h", "outcomes": [{"name": "Arsenal", "price": -120},
                                            {"name": "Chelsea", "price": 310},
                                            {"name": "Draw", "price": 260}]},
                {"key": "spreads", "outcomes": [
                    {"name": "Arsenal", "price": -105, "point": -0.5},
                    {"name": "Chelsea", "price": -115, "point": 0.5}]},
                {"key": "totals", "outcomes": [
                    {"name": "Over", "price": -110, "point": 2.5},
                    {"name": "Under", "price": -110, "point": 2.5}]}]}]},
        {"id": "broken", "commence_time": "not a time", "home_team": "A", "away_team": "B"},
    ]


def test_parse_reads_one_bookmaker_and_skips_broken_events() -> None:
    events = feed.parse_odds(odds_response("2031-03-01T15:00:00Z"), "draftkings")
    assert len(events) == 1
    e = events[0]
    assert e["three_way"] and e["home"] == "Arsenal"
    assert {(o.market, o.side, o.line, o.odds) for o in e["offers"]} == {
        ("moneyline", "home", None, -120), ("moneyline", "away", None, 310),
        ("moneyline", "draw", None, 260), ("spread", "home", -0.5, -105),
        ("spread", "away", 0.5, -115), ("total", "over", 2.5, -110),
        ("total", "under", 2.5, -110)}


async def test_import_from_a_file_then_scores_grade_it(pools_server: Any, tmp_path: Path) -> None:
    svc = svc_of(pools_server)
    week = fresh_week()
    set_time(pools_server, week.start_ms)
    path = tmp_path / "odds.json"
    path.write_text(json.dumps(odds_response("2031-12-01T15:00:00Z")))
    assert await feed.import_odds(svc, await feed.load(svc, str(path))) == 1
    eid = str(ident("event", "e912304de2b2ce35b473ce2ecd3d1502"))
    detail = await event_detail(svc, eid)
    assert detail["three_way"] and len(detail["selections"]) == 7
    # a second import with moved odds updates the same event
    moved = odds_response("2031-12-01T15:00:00Z")
    moved[0]["bookmakers"][1]["markets"][0]["outcomes"][0]["price"] = -130
    assert await feed.import_odds(svc, moved) == 1
    detail = await event_detail(svc, eid)
    home = next(s for s in detail["selections"] if s["market"] == "moneyline"
                and s["side"] == "home")
    assert home["odds"] == -130
    scores = [{"id": "e912304de2b2ce35b473ce2ecd3d1502", "completed": True,
               "home_team": "Arsenal", "away_team": "Chelsea",
               "scores": [{"name": "Arsenal", "score": "2"}, {"name": "Chelsea", "score": "2"}]},
              {"id": "unknown", "completed": True, "home_team": "X", "away_team": "Y",
               "scores": [{"name": "X", "score": "1"}, {"name": "Y", "score": "0"}]}]
    assert await feed.import_scores(svc, scores) == 1
    detail = await event_detail(svc, eid)
    assert (detail["status"], detail["home_score"], detail["away_score"]) == ("final", 2, 2)
    assert detail["result_version"] == 1
