"""Wager matches in Chromium at a phone viewport: two players in two browser contexts play a
match from the lobby to the payout, and a disputed match is ruled by an admin in the console
with the reason reaching both players (docs/wagers.md, docs/app.md and docs/console.md).

With MATCHPOT_SCREENS_DIR set, the screenshots the docs show are written there:

    MATCHPOT_SCREENS_DIR=docs/screens .venv/bin/python -m pytest tests/browser/test_wagers.py
"""

from __future__ import annotations

import io
import os
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image, ImageDraw

from server.admin.accounts import ensure_admin
from tests.browser.conftest import (
    DESKTOP_VIEWPORT,
    FAST_DUEL,
    PHONE_VIEWPORT,
    Pages,
    logged_in_page,
)
from tests.browser.test_admin_console import UUID, console
from tests.support import LiveServer, TestServices, free_port, run_server

STAKE = 1_000  # 10 credits each: pot 20, fee 10% → the winner receives 18 credits
FUNDS = 10_000  # 100 credits
OPERATOR = ("wager-ops", "wager-ops-password-1")
RAW_CODES = re.compile(r"\b(file_not_image|file_mismatch|file_too_large|too_young|wager_\w+|"
                       r"profile_required|ready_check|ruled_void|winner_a|minor)\b")
WAGER_SETTINGS = {
    **FAST_DUEL,
    # Short windows, though neither test waits on one: every step is a player's or an admin's.
    "wager": {"stakes_minor": [STAKE, 5_000], "ready_window_ms": 300_000,
              "play_window_ms": 600_000, "confirm_window_ms": 300_000},
    "wagers": {"adopt_interval_s": 3_600, "resume_cooldown_s": 0},
}


@pytest.fixture(scope="module")
async def web(
    test_services: TestServices, tmp_path_factory: pytest.TempPathFactory, pool: Any
) -> AsyncIterator[LiveServer]:
    """This module's demo server offers wagers (the conftest's `web` does not)."""
    settings = test_services.settings(
        Path(tmp_path_factory.mktemp("web-wagers")),
        redis_prefix=f"{test_services.redis_prefix}webwg", demo=True,
        games=["rooms.games.quiz", "rooms.games.wager"], game_settings=WAGER_SETTINGS,
        room_grace_ms=15_000, web_dir=os.environ.get("MATCHPOT_TEST_WEB_DIR") or None,
    )
    async with run_server(settings, test_services.services_for_run(), port=free_port()) as live:
        await ensure_admin(live.state.pool, OPERATOR[0], OPERATOR[1], "operator")
        yield live


def _shots(tmp_path: Path) -> Path:
    target = Path(os.environ.get("MATCHPOT_SCREENS_DIR") or tmp_path)
    target.mkdir(parents=True, exist_ok=True)
    return target


async def shot(page: Any, folder: Path, name: str, *, full: bool = False) -> None:
    await page.screenshot(path=str(folder / f"{name}.png"), full_page=full)
    assert not page.errors, (name, page.errors)


async def fits_the_phone(page: Any) -> None:
    """Nothing scrolls sideways at 390 px, and no id or code leaks into the words."""
    width = await page.evaluate("document.scrollingElement.scrollWidth")
    assert width <= PHONE_VIEWPORT["width"], width
    text = await page.inner_text("main")
    assert not UUID.search(text), UUID.search(text)
    assert not RAW_CODES.search(text), RAW_CODES.search(text)


async def in_view(page: Any, *selectors: str) -> None:
    """Each element is inside the 390x844 screen without scrolling (above the tab bar)."""
    assert await page.evaluate("window.scrollY") == 0
    tabs_top = await page.evaluate("document.querySelector('#tabs').getBoundingClientRect().top")
    for selector in selectors:
        box = await page.locator(selector).bounding_box()
        assert box is not None and 0 <= box["y"] and box["y"] + box["height"] <= tabs_top, (
            selector, box, tabs_top)


async def http_profile(server: LiveServer, session: dict[str, Any], tag: str) -> None:
    async with server.http() as http:
        r = await http.put("/wagers/profile", json={
            "region": "af", "birth_date": "1996-04-02", "tags": {"pc": tag}},
            headers={"authorization": f"Bearer {session['access_token']}"})
        assert r.status_code == 200, r.text


async def test_two_players_post_accept_ready_report_and_are_paid(pages: Pages,
                                                                 tmp_path: Path) -> None:
    folder = _shots(tmp_path)
    ann, ann_s = await logged_in_page(pages, funds_minor=FUNDS)
    ben, ben_s = await logged_in_page(pages, funds_minor=FUNDS)
    ann_name, ben_name = ann_s["user"]["display_name"], ben_s["user"]["display_name"]

    # The wager area is reached from the game list.
    await ann.click("#open-wagers")
    await ann.wait_for_selector("#wg-profile-form")
    # The gaming profile: the age check's refusal is said in words.
    await ann.fill("#wg-tag-pc", "AnnPlays#101")
    await ann.select_option("#wg-region", "af")
    await ann.fill("#wg-dob", "2014-06-01")
    await ann.click("#wg-profile-form button[type=submit]")
    await ann.wait_for_selector("#wg-profile-msg.err")
    assert "aged 18 and over" in await ann.inner_text("#wg-profile-msg")
    await ann.fill("#wg-dob", "1995-03-14")
    await ann.click("#wg-profile-form button[type=submit]")
    await ann.wait_for_selector("#wg-post-form")  # the find view, once the profile is saved

    await ben.click("#open-wagers")
    await ben.fill("#wg-tag-pc", "BenTheBold")
    await ben.fill("#wg-dob", "1990-11-30")
    await ben.click("#wg-profile-form button[type=submit]")
    await ben.wait_for_selector("#wg-lobby >> text=No open challenges")

    # The quick-match queue holds the stake until Ann leaves it.
    await ann.select_option("#wg-q-stake", str(STAKE))
    await ann.click("#wg-queue-form button[type=submit]")
    await ann.wait_for_selector("#wg-queue-msg >> text=Looking for a Gunfight opponent")
    await ann.wait_for_selector("#balance >> text=90 credits", state="attached")
    await ann.click("#wg-queue-leave")
    await ann.wait_for_selector("#wg-queue-msg >> text=your stake is back")
    await ann.wait_for_selector("#balance >> text=100 credits", state="attached")

    # A direct challenge reaches Ben's lobby live, marked as his; Ann withdraws it.
    await ann.select_option("#wg-p-platform", "pc")
    await ann.fill("#wg-p-opponent", "BenTheBold")
    await ann.click("#wg-post-form button[type=submit]")
    await ann.wait_for_selector("#wg-post-msg >> text=Challenge sent to BenTheBold")
    direct = ben.locator("#wg-lobby li", has_text="challenge to you")
    await direct.wait_for(timeout=10_000)
    await ann.locator("#wg-lobby li", has_text="direct challenge").get_by_role(
        "button", name="Cancel").click()
    await ann.wait_for_selector("#wg-lobby-msg >> text=Challenge withdrawn.")
    await direct.wait_for(state="detached", timeout=10_000)

    # Ann posts an open challenge; Ben's lobby shows it live, without a reload.
    await ann.select_option("#wg-p-mode", "gunfight")
    await ann.select_option("#wg-p-platform", "pc")
    await ann.select_option("#wg-p-stake", str(STAKE))
    assert "10 credits → win 18 credits" in await ann.inner_text("#wg-p-stake")
    await ann.fill("#wg-p-rules", "1v1 Gunfight, best of 3")
    await ann.fill("#wg-p-maps", "Shipment, Rust")
    await ann.click("#wg-post-form button[type=submit]")
    await ann.wait_for_selector("#wg-post-msg.ok")
    offer = ben.locator("#wg-lobby li", has_text=ann_name)
    await offer.wait_for(timeout=10_000)
    offer_text = await offer.inner_text()
    assert "Gunfight · PC" in offer_text and "1v1 Gunfight, best of 3" in offer_text
    assert "Stake 10 credits each → winner receives 18 credits" in offer_text
    await fits_the_phone(ben)
    await shot(ben, folder, "app-wagers-find")

    # Ben accepts: both are taken to the match room (Ann by the match-found alert).
    await offer.get_by_role("button", name=re.compile("^Accept")).click()
    for page in (ann, ben):
        await page.wait_for_selector("#wg-phase-title >> text=Ready check", timeout=15_000)
        await in_view(page, "#wg-vs", "#wg-clock", "#wg-ready")
        vs = await page.inner_text("#wg-vs")
        assert "AnnPlays#101" in vs and "BenTheBold" in vs
        assert "1v1 Gunfight, best of 3" in await page.inner_text(".match-head")
        assert re.search(r"\d+:\d\d left to confirm ready", await page.inner_text("#wg-clock"))
        assert await page.get_attribute("#wg-clock", "role") == "timer"
        await fits_the_phone(page)
    # Both stakes are held.
    await ben.wait_for_selector("#balance >> text=90 credits", state="attached")

    # The lobby chat.
    await ann.fill("#wg-chat-text", "Private match, code 4417")
    await ann.click("#wg-chat-form button")
    await ben.wait_for_selector("#wg-chat-log >> text=Private match, code 4417")
    await shot(ben, folder, "app-wager-room", full=True)

    # Ready check, then both report.
    await ann.click("#wg-ready")
    await ben.wait_for_selector("#wg-who li:has-text('AnnPlays#101') .tag.approved")
    await ben.click("#wg-ready")
    for page in (ann, ben):
        await page.wait_for_selector("#wg-phase-title >> text=Playing")
        await page.wait_for_selector("#wg-report-form")
    await ann.check("#wg-won")
    await ann.fill("#wg-score", "3-1")
    await ann.click("#wg-report-form button[type=submit]")
    await ben.wait_for_selector("#wg-phase-text >> text=AnnPlays#101 reported that they won (3-1)")
    await ben.check("#wg-lost")
    await ben.click("#wg-report-form button[type=submit]")

    # Settled at once: the winner is paid both stakes less the fee; balances shown.
    await ann.wait_for_selector("#wg-result-title >> text=You won!", timeout=15_000)
    assert "18 credits were added to your balance" in await ann.inner_text(
        "#wg-result-text")
    await ann.wait_for_selector("#wg-result-balance >> text=Your balance: 108 credits")
    await ben.wait_for_selector("#wg-result-title >> text=AnnPlays#101 won")
    await ben.wait_for_selector("#wg-result-balance >> text=Your balance: 90 credits")
    assert await ben.get_attribute("#wg-result", "aria-live") == "assertive"
    await fits_the_phone(ann)
    await shot(ann, folder, "app-wager-result")

    # History, the leaderboard and a public profile.
    await ann.click(".subnav >> text=History")
    row = ann.locator("#wg-history li", has_text="Won vs BenTheBold")
    await row.wait_for()
    assert "+18 credits" in await row.inner_text()
    await ann.click(".subnav >> text=Leaderboard")
    await ann.wait_for_selector("#wg-board >> text=Nobody ranked yet")
    await ann.goto(f"/#/wagers/player/{ben_s['user']['id']}")
    await ann.wait_for_selector("#wg-player >> text=1 matches · 0 won · 1 lost")
    assert ben_name in await ann.inner_text("#wg-player")
    await fits_the_phone(ann)


def _scoreboard(width: int = 320, height: int = 180) -> bytes:
    """A small PNG that looks like what players upload: a scoreboard."""
    image = Image.new("RGB", (width, height), (15, 23, 42))
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, 0, width, 34), fill=(15, 118, 110))
    draw.text((12, 10), "SEARCH AND DESTROY - VICTORY", fill=(255, 255, 255))
    for i, (tag, rounds) in enumerate((("AnnDisputes", "3"), ("BenDisputes", "1"))):
        y = 60 + i * 44
        draw.rectangle((12, y - 8, width - 12, y + 26), outline=(71, 85, 105))
        draw.text((24, y + 2), tag, fill=(248, 250, 252))
        draw.text((width - 40, y + 2), rounds, fill=(253, 230, 138))
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


async def test_a_dispute_is_ruled_in_the_console_and_both_players_read_why(
        pages: Pages, tmp_path: Path) -> None:
    folder = _shots(tmp_path)
    ann, ann_s = await logged_in_page(pages, funds_minor=FUNDS)
    ben, ben_s = await logged_in_page(pages, funds_minor=FUNDS)
    await http_profile(pages.server, ann_s, "AnnDisputes")
    await http_profile(pages.server, ben_s, "BenDisputes")
    async with pages.server.http() as http:
        r = await http.post("/wagers/challenges", json={
            "stake_minor": STAKE, "mode": "snd", "platform": "pc", "rules": "Best of 5"},
            headers={"authorization": f"Bearer {ann_s['access_token']}"})
        assert r.status_code == 201, r.text
        r = await http.post(f"/wagers/challenges/{r.json()['id']}/accept",
                            headers={"authorization": f"Bearer {ben_s['access_token']}"})
        assert r.status_code == 201, r.text
        room_id = r.json()["room_id"]

    for page in (ann, ben):
        await page.goto(f"/#/wagers/match/{room_id}")
        await page.wait_for_selector("#wg-ready")
        await page.click("#wg-ready")
    for page, claim in ((ann, "#wg-won"), (ben, "#wg-won")):  # both claim the win
        await page.wait_for_selector("#wg-report-form")
        await page.check(claim)
        await page.click("#wg-report-form button[type=submit]")
    for page in (ann, ben):
        await page.wait_for_selector("#wg-phase-title >> text=In dispute")
        assert "An admin reviews both reports" in await page.inner_text("#wg-phase-text")

    # Evidence: a wrong type and a picture too large are refused in words; a real one is kept.
    fake = tmp_path / "scoreboard.png"
    fake.write_text("this is not a picture")
    await ann.set_input_files("#wg-evidence-file", str(fake))
    await ann.wait_for_selector("#wg-evidence-msg.err")
    refused = await ann.inner_text("#wg-evidence-msg")
    assert refused and not RAW_CODES.search(refused), refused
    big = tmp_path / "huge.jpg"
    big.write_bytes(b"\xff\xd8\xff" + b"\0" * (2 * 1024 * 1024 + 10))
    await ann.set_input_files("#wg-evidence-file", str(big))
    await ann.wait_for_selector("#wg-evidence-msg >> text=a picture may be at most 2 MB")
    shot_file = tmp_path / "result.png"
    shot_file.write_bytes(_scoreboard())
    await ann.set_input_files("#wg-evidence-file", str(shot_file))
    await ann.wait_for_selector("#wg-evidence-msg >> text=Screenshot added.")
    await ann.wait_for_function(
        "() => [...document.querySelectorAll('#wg-shots img')].some(i => i.naturalWidth === 320)")
    await fits_the_phone(ann)

    # The admin watches the match live, drawn as a wager (names, tags, the dispute)...
    admin = await console(pages, DESKTOP_VIEWPORT, user=OPERATOR[0], password=OPERATOR[1])
    await admin.goto(f"/admin#/rooms/{room_id}")
    await admin.wait_for_selector(".game-board >> text=in dispute")
    board = await admin.inner_text(".game-board")
    assert "AnnDisputes" in board and "BenDisputes" in board and "Best of 5" in board
    assert not UUID.search(board) and "{" not in board, "drawn as the match, not JSON"
    await shot(admin, folder, "console-wager-watch")

    # ...then the dispute: the queue, claim, the evidence, a note, the ruling.
    await admin.click("#nav >> text=Disputes")
    row = admin.locator("tr", has_text="both claimed the same result").last
    await row.wait_for()
    await shot(admin, folder, "console-disputes")
    await row.get_by_role("link", name="Open the case").click()
    await admin.wait_for_selector("#case-reports")
    reports = await admin.inner_text("#case-reports")
    assert reports.count("says they won") == 2, reports
    await admin.click("#claim")
    await admin.wait_for_selector("#case-status >> text=under review by you")
    await admin.wait_for_function(
        "() => [...document.querySelectorAll('#case-evidence img')]"
        ".some(i => i.naturalWidth === 320)")
    await admin.click("#case-evidence button.thumb")
    await admin.wait_for_selector("#evidence-large:not([hidden])")
    await admin.fill("#note-text", "Ann's scoreboard is clear; Ben sent nothing.")
    await admin.click("#note-form button")
    await admin.wait_for_selector("#case-notes >> text=Ben sent nothing")
    case_text = await admin.inner_text("#screen")
    assert ann_s["user"]["display_name"] in case_text and "AnnDisputes" in case_text
    assert not UUID.search(case_text), "players by name, never by id"
    await shot(admin, folder, "console-dispute-case", full=True)
    reason = "The scoreboard screenshot shows AnnDisputes winning 3-1."
    await admin.check("#ruling-form input[value=winner_a]")
    await admin.fill("#ruling-reason", reason)
    await admin.click("#ruling-form button[type=submit]")
    await admin.wait_for_selector("#screen .msg.ok >> text=both players see the ruling")

    # Both players read the ruling and its reason; the winner is paid.
    await ann.wait_for_selector("#wg-result-title >> text=You won!", timeout=15_000)
    await ben.wait_for_selector("#wg-result-title >> text=AnnDisputes won", timeout=15_000)
    for page in (ann, ben):
        assert await page.inner_text("#wg-result-reason") == f"Admin's ruling: {reason}"
    await ann.wait_for_selector("#wg-result-balance >> text=Your balance: 108 credits")
    await ben.wait_for_selector("#wg-result-balance >> text=Your balance: 90 credits")
    await fits_the_phone(ben)
    await shot(ben, folder, "app-wager-ruling")
