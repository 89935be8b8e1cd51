"""Browser tests: Playwright for Python driving Debian's `chromium` (no browser download).

One demo-mode server per test module (the demo bot, the demo admin and the
WhatsApp simulator are on), fast quiz timings, and a fresh browser context per
test. Per module, not per session: a demo server approves every small pending
deposit and delivers every WhatsApp alert in the run's database, so it must be
gone before other folders' tests run. A failing test leaves a screenshot of the
page under tests/browser/artifacts/ and says where.
"""

from __future__ import annotations

import os
import random
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from ledger import WORLD, TransferRequest, transfer_id, user_account
from server.features.wasim.feature import demo_env
from tests.support import LiveServer, TestServices, free_port, run_server

CHROMIUM = os.environ.get("MATCHPOT_CHROMIUM", "/usr/bin/chromium")
LAUNCH_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
               "--disable-component-update", "--disable-sync", "--no-first-run"]
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
PHONE_VIEWPORT = {"width": 390, "height": 844}
DESKTOP_VIEWPORT = {"width": 1280, "height": 800}
# Three questions of 4 s: a whole duel against the demo bot (which sits down after 3 s)
# takes about 17 s.
FAST_DUEL = {"quiz": dict(countdown_ms=600, question_count=3, answer_window_ms=12_000,
                          reveal_ms=700, join_timeout_ms=10_000)}
INSTALL_HINT = (
    "The browser tests need Debian's chromium at /usr/bin/chromium (or MATCHPOT_CHROMIUM): "
    "run `apt-get install -y chromium` as root (python3 dev.py test does it when root)."
)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: Any) -> Any:
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"rep_{report.when}", report)


@pytest.fixture(scope="module")
async def web(
    test_services: TestServices, tmp_path_factory: pytest.TempPathFactory, pool: Any
) -> AsyncIterator[LiveServer]:
    port = free_port()
    wa = {k.removeprefix("MATCHPOT_").lower(): v for k, v in demo_env("127.0.0.1", port).items()}
    settings = test_services.settings(
        Path(tmp_path_factory.mktemp("web")), redis_prefix=f"{test_services.redis_prefix}web",
        demo=True, game_settings=FAST_DUEL, room_grace_ms=15_000, mm_window_start=400,
        whatsapp_enabled=True, whatsapp_app_secret=wa["whatsapp_app_secret"],
        whatsapp_access_token=wa["whatsapp_access_token"],
        whatsapp_phone_number_id=wa["whatsapp_phone_number_id"],
        whatsapp_verify_token=wa["whatsapp_verify_token"],
        whatsapp_api_base=wa["whatsapp_api_base"], whatsapp_pair_interval_s=0.0,
        # MATCHPOT_TEST_WEB_DIR serves another copy of clients/web (e.g. an older one, to
        # see these tests fail on it); the simulator page is served from this copy either way.
        web_dir=os.environ.get("MATCHPOT_TEST_WEB_DIR") or None,
    )
    async with run_server(settings, test_services.services_for_run(), port=port) as live:
        yield live


def _chromium_missing() -> bool:
    return not Path(CHROMIUM).exists() and shutil.which("chromium") is None


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Any]:
    if _chromium_missing():
        pytest.fail(INSTALL_HINT)
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        b = await p.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
        yield b
        await b.close()


class Pages:
    """Browser contexts of one test; on failure each open page is saved as a screenshot."""

    def __init__(self, browser: Any, server: LiveServer) -> None:
        self.browser = browser
        self.server = server
        self.opened: list[Any] = []

    async def new(self, viewport: dict[str, int] = PHONE_VIEWPORT, **kw: Any) -> Any:
        context = await self.browser.new_context(viewport=viewport, base_url=self.server.base_url,
                                                 service_workers="allow", **kw)
        context.set_default_timeout(20_000)
        page = await context.new_page()
        page.errors = []
        page.on("pageerror", lambda e: page.errors.append(str(e)))
        self.opened.append(page)
        return page


@pytest.fixture
async def pages(
    browser: Any, web: LiveServer, request: pytest.FixtureRequest
) -> AsyncIterator[Pages]:
    p = Pages(browser, web)
    yield p
    failed = getattr(request.node, "rep_call", None)
    if failed is not None and failed.failed:
        ARTIFACTS.mkdir(exist_ok=True)
        for i, page in enumerate(p.opened):
            path = ARTIFACTS / f"{request.node.name}-{i}.png"
            try:
                await page.screenshot(path=str(path), full_page=True)
                print(f"\nscreenshot of the failing step: {path}")
            except Exception as exc:  # a closed page cannot be photographed
                print(f"\nno screenshot of page {i}: {exc}")
    for page in p.opened:
        await page.context.close()


def random_phone() -> str:
    return f"07{random.randint(10_000_000, 99_999_999)}"


async def login_tokens(server: LiveServer, phone: str) -> dict[str, Any]:
    """Log in over HTTP as the app does (the demo's log sender keeps the code)."""
    from server.auth.http import OTP_SENDER

    async with server.http() as http:
        r = await http.post("/auth/otp/request", json={"phone": phone})
        assert r.status_code == 202, r.text
        code = server.state.find(OTP_SENDER).last_code(r.json()["phone"])
        r = await http.post("/auth/otp/verify", json={"phone": phone, "code": code})
        assert r.status_code == 200, r.text
        return dict(r.json())


async def fund(server: LiveServer, user_id: str, amount_minor: int) -> None:
    state = server.state
    await state.ledger.transfer(TransferRequest(
        id=transfer_id("browser-test-deposit", user_id, amount_minor), debit=WORLD,
        credit=user_account(user_id), amount_minor=amount_minor,
        currency=state.settings.currency, code="deposit",
    ))


async def logged_in_page(pages: Pages, *, funds_minor: int = 0,
                         viewport: dict[str, int] = PHONE_VIEWPORT) -> tuple[Any, dict[str, Any]]:
    """A page of the app already logged in (tokens as the app stores them)."""
    session = await login_tokens(pages.server, random_phone())
    if funds_minor:
        await fund(pages.server, session["user"]["id"], funds_minor)
    page = await pages.new(viewport)
    await page.goto("/static/icon.svg")  # same origin, so localStorage can be set first
    await page.evaluate(
        """s => { localStorage.setItem('mp.access', s.access_token);
                  localStorage.setItem('mp.refresh', s.refresh_token);
                  localStorage.setItem('mp.profile', JSON.stringify(s.user)); }""", session)
    await page.goto("/#/play")
    await page.wait_for_selector("#conn.live")
    return page, session
