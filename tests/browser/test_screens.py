"""Every screen group renders without a script error; with MATCHPOT_SCREENS_DIR set, the
screenshots the docs show are written there:

    MATCHPOT_SCREENS_DIR=docs/screens .venv/bin/python -m pytest tests/browser/test_screens.py
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from tests.browser.conftest import DESKTOP_VIEWPORT, PHONE_VIEWPORT, Pages, logged_in_page
from tests.browser.test_admin_console import console


def _dir(tmp_path: Path) -> Path:
    target = Path(os.environ.get("MATCHPOT_SCREENS_DIR") or tmp_path)
    target.mkdir(parents=True, exist_ok=True)
    return target


async def _shot(page: Any, folder: Path, name: str) -> None:
    await page.screenshot(path=str(folder / f"{name}.png"))
    assert not page.errors, (name, page.errors)


async def test_player_screens(pages: Pages, tmp_path: Path) -> None:
    folder = _dir(tmp_path)
    landing = await pages.new(PHONE_VIEWPORT)
    await landing.goto("/")
    await landing.wait_for_selector("#view-login:not([hidden])")
    await _shot(landing, folder, "app-landing")
    page, _ = await logged_in_page(pages, funds_minor=25_000)
    await page.wait_for_selector("#duels li")
    await _shot(page, folder, "app-play")
    await page.click("#games .stakes button >> nth=0")
    await page.wait_for_selector("#duel-choices button", timeout=20_000)
    await _shot(page, folder, "app-duel")
    await page.click("#duel-choices button >> nth=0")
    await page.wait_for_selector("#duel-result:not([hidden])", timeout=30_000)
    await _shot(page, folder, "app-duel-result")
    await page.click("#duel-close")
    await page.click("#tabs a[data-tab=wallet]")
    await page.wait_for_selector("#history li")
    await _shot(page, folder, "app-wallet")
    await page.click("#tabs a[data-tab=limits]")
    await page.wait_for_selector("#limit-deposit-now >> text=no limit set")
    await _shot(page, folder, "app-limits")


@pytest.mark.parametrize("screen", ["dashboard", "players", "rooms", "approvals", "audit"])
async def test_console_screens(pages: Pages, tmp_path: Path, screen: str) -> None:
    folder = _dir(tmp_path)
    admin = await console(pages, DESKTOP_VIEWPORT)
    if screen == "players":
        _, session = await logged_in_page(pages, funds_minor=12_000)
        await admin.goto(f"/admin#/players/{session['user']['id']}")
        await admin.wait_for_selector("#screen >> text=Ledger")
    elif screen == "rooms":
        player, _ = await logged_in_page(pages, funds_minor=20_000)
        await player.click("#games .stakes button >> nth=0")
        await player.wait_for_selector("#duel-choices button", timeout=20_000)
        await admin.goto("/admin#/rooms")
        await admin.click("#screen a >> text=Watch")
        await admin.wait_for_selector(".game-board .q")
    else:
        await admin.goto(f"/admin#/{screen}")
        await admin.wait_for_selector("#screen h2")
        if screen == "dashboard":
            await admin.wait_for_selector("[data-tile=ledger] .n >> text=balanced", timeout=15_000)
    await _shot(admin, folder, f"console-{screen}")


async def test_whatsapp_simulator_screen(pages: Pages, tmp_path: Path) -> None:
    folder = _dir(tmp_path)
    page = await pages.new(PHONE_VIEWPORT)
    await page.goto("/demo/whatsapp")
    await page.fill("#wa-phone", "254700555222")
    await page.click("#chips >> text=balance")
    await page.wait_for_selector(".bubble.them", timeout=15_000)
    await _shot(page, folder, "whatsapp-simulator")
