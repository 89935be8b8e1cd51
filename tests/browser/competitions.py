"""Helpers of the competition screens' browser tests: a logged-in page for a given session,
an admin's HTTP headers, and the console."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from server.admin.accounts import ensure_admin
from tests.browser.conftest import PHONE_VIEWPORT, Pages
from tests.support import LiveServer


async def page_for(pages: Pages, session: dict[str, Any], path: str,
                   viewport: dict[str, int] = PHONE_VIEWPORT) -> Any:
    """The app logged in as `session` (tokens stored as the app stores them), opened at `path`."""
    page = await pages.new(viewport)
    await page.goto("/static/icon.svg")  # same origin, so localStorage can be set first
    await page.evaluate(
        """s => { localStorage.setItem('mp.access', s.access_token);
                  localStorage.setItem('mp.refresh', s.refresh_token);
                  localStorage.setItem('mp.profile', JSON.stringify(s.user)); }""", session)
    await page.goto(path)
    await page.wait_for_selector("#conn.live")
    return page


ADMIN, ADMIN_PASSWORD = "compadmin", "competitions-operator"


async def superadmin(server: LiveServer) -> tuple[str, str]:
    """An admin who may act on tournaments, pools and challenges (the demo admin is finance)."""
    await ensure_admin(server.state.pool, ADMIN, ADMIN_PASSWORD, "superadmin")
    return ADMIN, ADMIN_PASSWORD


async def admin_headers(server: LiveServer) -> dict[str, str]:
    user, password = await superadmin(server)
    async with server.http() as http:
        r = await http.post("/admin/login", json={"username": user, "password": password})
        assert r.status_code == 200, r.text
        return {"authorization": f"Bearer {r.json()['access_token']}"}


async def no_horizontal_scroll(page: Any) -> None:
    width = await page.evaluate("document.documentElement.scrollWidth")
    assert width <= await page.evaluate("window.innerWidth"), "the page scrolls sideways"


async def shot(page: Any, name: str) -> None:
    """With MATCHPOT_SCREENS_DIR set (docs/screens), save the docs' screenshot of this step."""
    folder = os.environ.get("MATCHPOT_SCREENS_DIR")
    if folder:
        await page.screenshot(path=str(Path(folder) / f"{name}.png"))
