"""The player app in Chromium at a phone viewport, as a new player uses it.

Each test names the finding of issue 12 it guards (the old app failed each one).
"""

from __future__ import annotations

import re
from typing import Any

from tests.browser.conftest import (
    DESKTOP_VIEWPORT,
    PHONE_VIEWPORT,
    Pages,
    fund,
    logged_in_page,
    random_phone,
)

RAW_WORDS = re.compile(r"minor units|withdrawal_hold|user:[0-9a-f]{4}|\(held\)|staked\)")
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def contrast(fg: tuple[float, ...], bg: tuple[float, ...]) -> float:
    def lum(c: tuple[float, ...]) -> float:
        ch = [v / 255 for v in c[:3]]
        lin = [v / 12.92 if v <= 0.03928 else ((v + 0.055) / 1.055) ** 2.4 for v in ch]
        return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]
    a, b = sorted((lum(fg), lum(bg)), reverse=True)
    return (a + 0.05) / (b + 0.05)


def rgb(css: str) -> tuple[float, ...]:
    return tuple(float(x) for x in re.findall(r"[\d.]+", css)[:3])


async def test_login_from_a_landing_page_that_says_what_this_is(pages: Pages) -> None:
    page = await pages.new(PHONE_VIEWPORT)
    await page.goto("/")
    landing = await page.inner_text("#view-login")
    assert "Quiz duels for credits" in landing and "WhatsApp" in landing
    assert await page.is_hidden("#conn"), "no dark 'offline' badge before login"
    assert await page.is_hidden("#tabs")
    # Every input has a label a screen reader announces.
    for field in ("#phone",):
        assert await page.evaluate(f"document.querySelector('{field}').labels.length") == 1
    from server.auth.http import OTP_SENDER

    phone = random_phone()
    await page.fill("#phone", phone)
    await page.click("#phone-form button")
    await page.wait_for_selector("#code-form:not([hidden])")
    e164 = "+254" + phone[1:]
    code = pages.server.state.find(OTP_SENDER).last_code(e164)
    await page.fill("#code", code)
    await page.click("#code-form button")
    await page.wait_for_selector("#conn.live")
    assert "Player" in await page.inner_text("#who")
    assert await page.inner_text("#balance") == "0 credits"
    badge = await page.eval_on_selector(
        "#conn", "e => [getComputedStyle(e).color, getComputedStyle(e).backgroundColor]")
    assert contrast(rgb(badge[0]), rgb(badge[1])) >= 4.5, "the live badge is readable"
    assert "WhatsApp" in await page.inner_text("#view-play")
    assert not page.errors


async def test_stakes_are_refused_in_the_ui_at_zero_balance(pages: Pages) -> None:
    page, _ = await logged_in_page(pages)
    buttons = page.locator("#games .stakes button")
    assert await buttons.count() >= 1
    for i in range(await buttons.count()):
        assert await buttons.nth(i).is_disabled(), "a stake above the balance cannot be clicked"
    assert await page.is_visible("#zero-hint")
    first = await buttons.nth(0).inner_text()
    assert re.search(r"Stake \d+ credits\s+win \d+ credits", first), first


async def test_a_deposit_is_listed_while_pending_then_approved_live(pages: Pages) -> None:
    page, _ = await logged_in_page(pages)
    await page.click("#tabs a[data-tab=wallet]")
    label = await page.evaluate("document.querySelector('#deposit-amount').labels[0].innerText")
    assert label.startswith("Deposit amount")
    assert await page.inner_text("#deposit-form .unit") == "credits"
    await page.fill("#deposit-amount", "5")
    await page.click("#deposit-form button")
    await page.wait_for_selector("#wallet-msg.err")
    assert await page.inner_text("#wallet-msg") == "The minimum is 10 credits."
    await page.fill("#deposit-amount", "75")
    await page.click("#deposit-form button")
    await page.wait_for_selector("#requests >> text=Deposit of 75 credits — waiting for approval")
    # The demo admin approves it after ~2 s; the balance changes without a reload.
    await page.wait_for_selector("#wallet-balance >> text=75 credits", timeout=15_000)
    await page.wait_for_selector("#requests >> text=Deposit of 75 credits — approved")
    await page.wait_for_selector("#history >> text=Deposit credited")
    # A withdrawal is on hold, said in words.
    await page.fill("#withdraw-amount", "60")
    await page.click("#withdraw-form button")
    await page.wait_for_selector("#history >> text=Withdrawal requested, on hold until approved")
    text = await page.inner_text("body")
    assert "60 credits on hold" in text
    assert not RAW_WORDS.search(text), RAW_WORDS.search(text)


async def _question_fits(page: Any) -> None:
    """The question and every answer are inside the 390x844 viewport, nothing scrolled."""
    boxes = await page.eval_on_selector_all(
        "#duel-question, #duel-choices button, #duel-clock",
        "els => els.map(e => { const r = e.getBoundingClientRect(); return [r.top, r.bottom]; })")
    assert len(boxes) >= 4
    assert all(0 <= top and bottom <= PHONE_VIEWPORT["height"] for top, bottom in boxes), boxes
    assert await page.evaluate("window.scrollY") == 0


async def test_a_duel_against_the_bot_owns_the_phone_screen(pages: Pages) -> None:
    page, _ = await logged_in_page(pages, funds_minor=20_000)
    await page.click("#games .stakes button >> nth=0")
    await page.wait_for_selector("#duel:not([hidden])")
    assert await page.inner_text("#duel-money") == "Stake 50 credits → prize 80 credits"
    await page.wait_for_selector("#duel-choices button", timeout=20_000)
    await _question_fits(page)
    clock = float((await page.inner_text("#duel-clock")).split()[0])
    assert 0 < clock <= 4.0, "the clock counts this question's seconds"
    assert "15-second" not in await page.inner_text("body")
    for attr in ("#duel-question", "#duel-result", "#duel-score"):
        assert await page.get_attribute(attr, "aria-live") in ("polite", "assertive")
    await page.click("#duel-choices button >> nth=0")
    await page.wait_for_selector("#duel-result:not([hidden])", timeout=30_000)
    # The last question's answer stays revealed, in full colour.
    right = page.locator("#duel-choices button.right")
    assert await right.count() == 1
    assert await right.evaluate("e => getComputedStyle(e).opacity") == "1"
    assert rgb(await right.evaluate("e => getComputedStyle(e).backgroundColor")) == (22, 101, 52)
    result = await page.inner_text("#duel-result")
    assert re.search(r"\d+ credits", result), "the result names the amount"
    assert await page.is_visible("#duel-again")
    await page.click("#duel-close")
    await page.wait_for_selector("#duels li >> text=stake 50 credits")


async def test_reload_mid_duel_resumes_the_same_duel(pages: Pages) -> None:
    page, session = await logged_in_page(pages, funds_minor=20_000)
    await page.click("#games .stakes button >> nth=0")
    await page.wait_for_selector("#duel-choices button", timeout=20_000)
    question = await page.inner_text("#duel-question")
    # Forget the app's own note of the duel too: the server's list of the player's live
    # rooms (my_rooms) must find it.
    await page.evaluate("localStorage.removeItem('mp.duel')")
    await page.reload()
    await page.wait_for_selector("#duel:not([hidden])")
    await page.wait_for_function(
        "q => document.querySelector('#duel-question').innerText !== ''", arg=question)
    await _question_fits(page)
    await page.click("#duel-choices button >> nth=1")
    await page.wait_for_selector("#duel-result:not([hidden])", timeout=30_000)
    title = await page.inner_text("#duel-result-title")
    assert title in ("You won!", "Your opponent won this one", "A tie"), title
    async with pages.server.http() as http:
        history = (await http.get("/duels/history", headers={
            "authorization": f"Bearer {session['access_token']}"})).json()["items"]
    assert history and history[0]["result"] in ("won", "lost", "draw")
    assert history[0]["score"] + history[0]["opponent_score"] >= 0


async def test_opening_offline_keeps_the_session_and_says_so(pages: Pages) -> None:
    page, session = await logged_in_page(pages)
    await page.evaluate("navigator.serviceWorker.ready.then(() => true)")  # installed, cached
    await page.reload()  # the service worker now controls the page and has the shell cached
    await page.wait_for_selector("#conn.live")
    await page.context.set_offline(True)
    await page.reload()
    await page.wait_for_selector("#offline:not([hidden])")
    assert await page.evaluate("localStorage.getItem('mp.access')") == session["access_token"]
    assert await page.evaluate("localStorage.getItem('mp.refresh')") == session["refresh_token"]
    assert await page.is_hidden("#view-login"), "no login form: the session is kept"
    assert session["user"]["display_name"] in await page.inner_text("#who")
    await page.context.set_offline(False)
    await page.wait_for_selector("#conn.live", timeout=20_000)
    assert await page.is_hidden("#offline")


async def test_responsible_play_limits_are_enforced_by_the_server(pages: Pages) -> None:
    page, _ = await logged_in_page(pages, funds_minor=10_000)
    await page.click("#tabs a[data-tab=limits]")
    await page.fill("#limit-deposit", "20")
    await page.click("#limits-form button")
    await page.wait_for_selector("#limits-msg >> text=Saved: your limits apply now.")
    await page.click("#tabs a[data-tab=wallet]")
    await page.fill("#deposit-amount", "50")
    await page.click("#deposit-form button")
    await page.wait_for_selector("#wallet-msg.err")
    assert "daily deposit limit is 20 credits" in await page.inner_text("#wallet-msg")
    await page.click("#tabs a[data-tab=limits]")
    await page.fill("#limit-deposit", "500")
    await page.click("#limits-form button")
    await page.wait_for_selector("#limits-msg >> text=after the cooling-off period")
    assert "500 credits from" in await page.inner_text("#limit-deposit-now")
    page.on("dialog", lambda d: d.accept())
    await page.select_option("#exclude-days", "1")
    await page.click("#exclude-form button")
    await page.wait_for_selector("#exclude-msg >> text=You are taking a break until")
    await page.click("#tabs a[data-tab=play]")
    await page.click("#games .stakes button >> nth=0")
    await page.wait_for_selector("#queue-status.err")
    assert "excluded yourself" in await page.inner_text("#queue-status")


async def test_the_app_installs_as_a_pwa(pages: Pages) -> None:
    page = await pages.new(DESKTOP_VIEWPORT)
    await page.goto("/")
    manifest = await (await page.request.get("/static/manifest.webmanifest")).json()
    icons = {(i["sizes"], i.get("purpose", "any")) for i in manifest["icons"]}
    assert {("192x192", "any"), ("512x512", "any"), ("512x512", "maskable")} <= icons
    for icon in manifest["icons"]:
        assert (await page.request.get(icon["src"])).ok, icon
    touch = await page.get_attribute("link[rel=apple-touch-icon]", "href")
    assert touch and (await page.request.get(touch)).ok


async def test_no_uuids_or_codes_leak_into_the_app(pages: Pages) -> None:
    page, session = await logged_in_page(pages)
    await fund(pages.server, session["user"]["id"], 5_000)
    for tab in ("play", "wallet", "limits"):
        await page.click(f"#tabs a[data-tab={tab}]")
        await page.wait_for_selector(f"#view-{tab}:not([hidden])")
        if tab == "wallet":
            await page.wait_for_selector("#history li")
        text = await page.inner_text("body")
        assert not UUID.search(text) and not RAW_WORDS.search(text), (tab, text[:400])
        unlabelled = await page.eval_on_selector_all(
            f"#view-{tab} input, #view-{tab} select",
            "els => els.filter(e => !e.labels.length && !e.getAttribute('aria-label'))"
            ".map(e => e.id)")
        assert unlabelled == [], (tab, unlabelled)
