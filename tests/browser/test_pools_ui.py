"""Weekly pools in the app at a phone viewport: this week with its countdown, the registered
wording, the leaderboard, the bet slip with its whole-credit return and rounding rule, a bet
placed, and the leaderboard and my bets updating live when the game's result comes in.

Its own server: the week job off and a manual clock at the start of a week of its own, so the
draw and the game's start happen when the test says."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from competitions.pools.weeks import Week
from rooms.clock import ManualClock
from server.features.pools.events import Offer, upsert_event
from server.features.pools.http import POOLS
from tests.browser.competitions import no_horizontal_scroll, page_for, shot, superadmin
from tests.browser.conftest import DESKTOP_VIEWPORT, Pages, login_tokens, random_phone
from tests.browser.test_admin_console import console
from tests.support import LiveServer, TestServices, run_server

HOUR = 3_600_000
WEEK = Week(date(2036, 3, 3))  # a Monday no other test draws


@pytest.fixture(scope="module")
async def web(
    test_services: TestServices, tmp_path_factory: pytest.TempPathFactory, pool: Any
) -> AsyncIterator[LiveServer]:
    env = {"MATCHPOT_POOLS_JOB_INTERVAL_S": "0",
           "MATCHPOT_POOLS_PRIZE_FUND_PER_MEMBER_MINOR": "10000"}
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    settings = test_services.settings(
        Path(tmp_path_factory.mktemp("poolsweb")),
        redis_prefix=f"{test_services.redis_prefix}poolsweb", demo=True)
    try:
        async with run_server(settings, test_services.services_for_run()) as live:
            live.state.clock = ManualClock(WEEK.start_ms - 24 * HOUR)
            yield live
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def set_time(server: LiveServer, ms: int) -> None:
    server.state.clock._now_ms = ms


async def test_bet_and_watch_the_leaderboard_move(pages: Pages) -> None:
    server = pages.server
    svc = server.state.need(POOLS)
    me, rival, third = [await login_tokens(server, random_phone()) for _ in range(3)]
    await svc.ensure_week(WEEK)
    async with svc.pool.acquire() as conn:
        for s in (me, rival, third):
            await svc.grant_pass(conn, WEEK.id, uuid.UUID(s["user"]["id"]), "admin", None)
    set_time(server, WEEK.start_ms + HOUR)
    assert await svc.run_draw(WEEK)
    game = await upsert_event(svc, ext_id=None, sport="soccer_epl", home="Home FC",
                              away="Away FC", commence_ms=WEEK.start_ms + 48 * HOUR,
                              three_way=False, offers=[
                                  Offer("moneyline", "home", None, -150),
                                  Offer("moneyline", "away", None, 130),
                                  Offer("total", "over", 2.5, -110),
                                  Offer("total", "under", 2.5, -110)])

    page = await page_for(pages, me, "/#/compete/pools")
    await page.wait_for_selector("#p-week >> text=You are in pool 1")
    assert "1,000 credits" in await page.inner_text("#p-credits")
    countdown = await page.inner_text("#p-countdown")
    # To the next Monday 00:00 ET: this week has the spring change, so it is 167 h long.
    assert countdown in ("6 d 22 h", "6 d 21 h"), countdown
    await page.wait_for_selector("#p-board tr >> nth=2")  # three members, all 1st
    assert [t.strip() for t in await page.locator("#p-board tr td:first-child").all_inner_texts()] \
        == ["1st", "1st", "1st"]

    # Register for next week: the product's own words.
    await page.click("#p-buy-pass")
    await page.wait_for_selector(
        "#p-registered >> text=You are registered for next week — pools are drawn Monday 00:00 ET")

    # The bet slip: 100 at -150 returns 166 (166.67 rounded down), rule stated.
    await page.get_by_role("button", name="Winner: Home FC at -150").click()
    await page.fill("#p-stake", "100")
    await page.wait_for_selector("#p-return >> text=Potential return 166 credits")
    assert "rounded down" in await page.inner_text("#p-rule")
    await no_horizontal_scroll(page)
    await shot(page, "app-pool-slip")
    await page.click("#p-place")
    await page.wait_for_selector("#p-slip-msg >> text=Bet placed")
    await page.wait_for_selector("#p-bets >> text=open: returns 166 credits if it wins")
    await page.wait_for_selector("#p-credits >> text=900 credits")

    # Another member bets over HTTP; then an operator enters the result in the console and
    # the board moves live.
    async with server.http() as http:
        away = next(s["id"] for s in game["selections"] if s["side"] == "away")
        r = await http.post("/pools/bets",
                            headers={"authorization": f"Bearer {rival['access_token']}"},
                            json={"selection_id": away, "stake": 200, "client_key": "r1"})
        assert r.status_code == 201, r.text
    set_time(server, game["commence_ms"] + 3 * HOUR)
    user, password = await superadmin(server)
    admin = await console(pages, DESKTOP_VIEWPORT, user=user, password=password)
    await admin.click("#nav >> text=Weekly pools")
    await admin.wait_for_selector(f"#screen tr >> text={WEEK.id}")
    ev = admin.locator(f"[data-event='{game['id']}']")
    await ev.get_by_label("Home FC score").fill("2")
    await ev.get_by_label("Away FC score").fill("1")
    await ev.get_by_role("button", name="Save final score").click()
    await admin.wait_for_selector("#screen .msg.ok >> text=settlement started")
    await admin.wait_for_selector("#screen td >> text=2/2 members", timeout=15_000)
    await shot(admin, "console-pools")
    me_row = page.locator(f"#p-board tr[data-user='{me['user']['id']}']")
    await me_row.locator("text=1,066 credits").wait_for(timeout=15_000)
    assert (await me_row.locator("td").first.inner_text()).strip() == "1st"
    rival_row = page.locator(f"#p-board tr[data-user='{rival['user']['id']}']")
    await rival_row.locator("text=800 credits").wait_for()
    assert (await rival_row.locator("td").first.inner_text()).strip() == "3rd"
    await page.wait_for_selector("#p-board-say >> text=1st")
    await page.locator("#p-pool").scroll_into_view_if_needed()
    await shot(page, "app-pools")
    await page.reload()  # my bets after a reload: graded
    await page.wait_for_selector("#p-bets >> text=won: 166 credits returned")
    text = await page.inner_text("body")
    assert "$" not in text and "minor" not in text
    assert not page.errors and not admin.errors, (page.errors, admin.errors)
