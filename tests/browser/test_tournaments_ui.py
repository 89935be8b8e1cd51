"""Tournaments in the app at a phone viewport: enter, the bracket drawn live at the start and
updated as a result comes in (set by an admin), then "your match is ready" → the duel room."""

from __future__ import annotations

from tests.browser.competitions import (
    admin_headers,
    no_horizontal_scroll,
    page_for,
    shot,
    superadmin,
)
from tests.browser.conftest import DESKTOP_VIEWPORT, Pages, fund, login_tokens, random_phone
from tests.browser.test_admin_console import console

FEE = 1_000  # 10 credits


async def test_enter_watch_the_bracket_update_and_play(pages: Pages) -> None:
    server = pages.server
    admin = await admin_headers(server)
    async with server.http() as http:
        r = await http.post("/admin/tournaments", headers=admin, json={
            "name": "Tuesday cup", "format": "single_elimination", "entry_fee_minor": FEE,
            "rake_bps": 1000, "min_players": 2, "max_players": 8, "open": True})
        assert r.status_code == 201, r.text
        tid = r.json()["tournament"]["id"]
        me = await login_tokens(server, random_phone())
        others = [await login_tokens(server, random_phone()) for _ in range(3)]
        for s in [me, *others]:
            await fund(server, s["user"]["id"], 10_000)

        page = await page_for(pages, me, "/#/compete/tournaments")
        await page.click("text=Tuesday cup")
        await page.click("button:has-text('Enter for 10 credits')")
        await page.wait_for_selector("#t-msg >> text=entry fee of 10 credits is on hold")
        for s in others:
            r = await http.post(f"/tournaments/{tid}/register",
                                headers={"authorization": f"Bearer {s['access_token']}"})
            assert r.status_code == 200, r.text
        await page.wait_for_selector("#t-people li >> nth=3")  # live: entries appear

        r = await http.post(f"/admin/tournaments/{tid}/start", headers=admin)
        assert r.status_code == 200, r.text
        # The bracket is drawn without a reload: two semi-finals and a final.
        await page.wait_for_selector(".tree .round >> nth=1")
        assert await page.locator(".tree .match").count() == 3
        assert await page.locator(".tree .match.mine").count() == 1
        detail = (await http.get(f"/tournaments/{tid}")).json()
        names = {e["user_id"]: e["display_name"] for e in detail["entrants"]}
        semis = [m for m in detail["view"]["matches"] if m["round"] == 1]
        other = next(m for m in semis if me["user"]["id"] not in (m["a"], m["b"]))
        mine = next(m for m in semis if me["user"]["id"] in (m["a"], m["b"]))

        # An operator decides the other semi-final in the console: the player's tree marks
        # the winner and fills the final, live.
        winner = names[other["a"]]
        user, password = await superadmin(server)
        desk = await console(pages, DESKTOP_VIEWPORT, user=user, password=password)
        await desk.goto(f"/admin#/tournaments/{tid}")
        box = desk.locator(f"[data-match='{other['match_id']}']")
        await box.get_by_role("combobox").select_option(label=winner)
        await box.get_by_label("Reason for the result").fill("reported by both players")
        await box.get_by_role("button", name="Set result").click()
        await desk.wait_for_selector("#screen .msg.ok")
        await page.wait_for_selector(
            f"[data-match='{other['match_id']}'] .side.won >> text={winner}")
        final = page.locator(".tree .round >> nth=1").locator(".match")
        await final.locator(f"text={winner}").wait_for()
        await page.wait_for_selector("#t-live >> text=won against")
        await no_horizontal_scroll(page)
        await shot(page, "app-tournament")
        await desk.wait_for_selector(f"[data-match='{other['match_id']}'] .side.won")
        await desk.evaluate("window.scrollTo(0, 0)")
        await shot(desk, "console-tournaments")

        # My semi-final is ready: my opponent checks in, I check in, the duel room opens.
        opp = mine["b"] if mine["a"] == me["user"]["id"] else mine["a"]
        token = next(s["access_token"] for s in others if s["user"]["id"] == opp)
        r = await http.post(f"/tournaments/{tid}/checkin",
                            headers={"authorization": f"Bearer {token}"})
        assert r.status_code == 200, r.text
        await page.click("button:has-text('Your match is ready: check in')")
        await page.wait_for_selector("#duel:not([hidden])")
        assert await page.inner_text("#duel-money") == "Tournament match"
        assert names[opp] in await page.inner_text("#duel-vs")
        assert not page.errors and not desk.errors, (page.errors, desk.errors)
