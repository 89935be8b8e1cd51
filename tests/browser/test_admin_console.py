"""The admin console in Chromium: approvals with reasons the player reads, spectating drawn
as the game, players, the audit log, roles, logout, and a phone-sized screen."""

from __future__ import annotations

import re
from typing import Any

from server.admin.accounts import ensure_admin
from server.features.demo import DEMO_ADMIN, DEMO_ADMIN_PASSWORD
from tests.browser.conftest import DESKTOP_VIEWPORT, PHONE_VIEWPORT, Pages, logged_in_page

UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
BIG_CREDITS = "20000"  # above the demo's auto-approval, so a person decides


async def console(pages: Pages, viewport: dict[str, int] = DESKTOP_VIEWPORT,
                  user: str = DEMO_ADMIN, password: str = DEMO_ADMIN_PASSWORD) -> Any:
    page = await pages.new(viewport)
    await page.goto("/admin")
    await page.fill("#username", user)
    await page.fill("#password", password)
    await page.click("#login-form button")
    await page.wait_for_selector("#nav a")
    return page


async def request_deposit(player: Any, credits: str) -> None:
    await player.click("#tabs a[data-tab=wallet]")
    await player.fill("#deposit-amount", credits)
    await player.click("#deposit-form button")
    await player.wait_for_selector("#requests >> text=waiting for approval")


async def test_reject_with_a_reason_the_player_reads_and_approve_live(pages: Pages) -> None:
    player, session = await logged_in_page(pages)
    name = session["user"]["display_name"]
    await request_deposit(player, BIG_CREDITS)
    admin = await console(pages)
    await admin.click("#nav >> text=Approvals")
    row = admin.locator("tr", has_text=name).filter(has_text="20,000 credits")
    await row.wait_for()
    assert not UUID.search(await admin.inner_text("#screen")), "players by name, not by id"
    reason = "The transfer reference does not match"
    field = row.get_by_label("Reason the player will see")
    await field.fill(reason)
    # Two refreshes later the half-typed reason is still there: rows update in place.
    for _ in range(2):
        await admin.wait_for_event(
            "response", lambda r: "/admin/deposits?state=pending" in r.url, timeout=10_000)
    assert await field.input_value() == reason
    await row.get_by_role("button", name="Reject").click()
    await admin.wait_for_selector("#screen .msg.ok")
    await player.wait_for_selector(f"#requests >> text=Reason: {reason}", timeout=15_000)
    await admin.wait_for_selector(f"tr:has-text('{reason}')")  # listed as processed
    # Approve a second one: the player's balance changes without a reload.
    await request_deposit(player, BIG_CREDITS)
    await admin.locator("tr", has_text=name).get_by_role("button", name="Approve").click()
    await player.wait_for_selector("#wallet-balance >> text=20,000 credits", timeout=15_000)
    # The audit log shows both decisions with the reason.
    await admin.click("#nav >> text=Audit log")
    await admin.wait_for_selector("td >> text=deposit.reject")
    assert reason in await admin.inner_text("#screen")


async def test_spectating_draws_the_duel_with_names_scores_and_clock(pages: Pages) -> None:
    player, session = await logged_in_page(pages, funds_minor=20_000)
    await player.click("#games .stakes button >> nth=0")
    await player.wait_for_selector("#duel-choices button", timeout=20_000)
    admin = await console(pages)
    await admin.click("#nav >> text=Live rooms")
    row = admin.locator("tr", has_text=session["user"]["display_name"])
    await row.wait_for()
    assert "Demo bot" in await row.inner_text()
    await row.get_by_role("link", name="Watch").click()
    await admin.wait_for_selector(".game-board .q")
    board = await admin.inner_text(".game-board")
    assert session["user"]["display_name"] in board and "Demo bot" in board
    assert re.search(r"Q\d/\d\.", board)
    assert not UUID.search(board) and "{" not in board, "drawn as the game, not JSON"
    await admin.wait_for_function(
        "() => /\\d+\\.\\d s/.test(document.querySelector('#screen .clock').innerText)")
    await player.click("#duel-choices button >> nth=0")
    await admin.wait_for_selector(".game-board .right", timeout=15_000)  # the reveal


async def test_players_search_profile_ledger_suspend_and_roles(pages: Pages) -> None:
    player, session = await logged_in_page(pages, funds_minor=3_000)
    state = pages.server.state
    await ensure_admin(state.pool, "viewer1", "viewer-password-1", "viewer")
    await ensure_admin(state.pool, "operator1", "operator-password-1", "operator")
    viewer = await console(pages, user="viewer1", password="viewer-password-1")
    phone = session["user"]["phone"]
    await viewer.click("#nav >> text=Players")
    await viewer.fill("#player-q", "0" + phone[4:])  # typed as a local number
    await viewer.click("#screen form button")
    await viewer.click(f"#screen a >> text={session['user']['display_name']}")
    await viewer.wait_for_selector("#screen >> text=Ledger")
    text = await viewer.inner_text("#screen")
    assert "30 credits available" in text and "deposit" in text
    assert "An operator can suspend this account." in text, "a viewer cannot suspend"
    async with pages.server.http() as http:  # and the server agrees
        token = await viewer.evaluate("sessionStorage.getItem('mp.admin')")
        r = await http.post(f"/admin/players/{session['user']['id']}/suspend",
                            json={"reason": "x"}, headers={"authorization": f"Bearer {token}"})
        assert r.status_code == 403
    await viewer.click("#logout")
    await viewer.wait_for_selector("#login:not([hidden])")
    async with pages.server.http() as http:
        r = await http.get("/admin/me", headers={"authorization": f"Bearer {token}"})
        assert r.status_code == 401, "logout ends the session on the server"
    op = await console(pages, user="operator1", password="operator-password-1")
    await op.goto(f"/admin#/players/{session['user']['id']}")
    await op.fill("#suspend-reason", "Chargeback under review")
    await op.click("#screen button.danger")
    await op.wait_for_selector("#screen >> text=Suspended")
    await player.wait_for_selector("#view-login:not([hidden])", timeout=15_000)  # sessions ended


async def test_the_console_works_on_a_phone(pages: Pages) -> None:
    admin = await console(pages, PHONE_VIEWPORT)
    for screen in ("Dashboard", "Players", "Live rooms", "Approvals", "Audit log"):
        await admin.click(f"#nav >> text={screen}")
        await admin.wait_for_selector("#screen h2")
        width = await admin.evaluate("document.documentElement.scrollWidth")
        assert width <= PHONE_VIEWPORT["width"], (screen, width)
    await admin.click("#nav >> text=Dashboard")
    await admin.wait_for_selector("[data-tile=ledger] .n >> text=balanced", timeout=15_000)
    connections = await admin.inner_text("[data-tile=connections] .n")
    assert connections.isdigit()
