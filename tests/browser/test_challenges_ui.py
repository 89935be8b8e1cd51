"""Challenges in the app at a phone viewport: a goal with a deadline in words, the question
back on an ambiguous date, confirm (stake on hold), a photo proof, approval by an admin in
the console with the picture shown, the stake back; cancel within the cooling-off window."""

from __future__ import annotations

import io
import random

from PIL import Image

from ledger import user_account
from tests.browser.competitions import no_horizontal_scroll, page_for, shot, superadmin
from tests.browser.conftest import PHONE_VIEWPORT, Pages, fund, login_tokens, random_phone
from tests.browser.test_admin_console import console


def photo() -> bytes:
    """A picture no earlier proof can match (random blocks defeat the perceptual hash)."""
    img = Image.new("RGB", (64, 64))
    for x in range(0, 64, 8):
        for y in range(0, 64, 8):
            img.paste(tuple(random.randrange(256) for _ in range(3)), (x, y, x + 8, y + 8))
    out = io.BytesIO()
    img.save(out, "PNG")
    return out.getvalue()


async def available(server: object, user_id: str) -> int:
    state = server.state  # type: ignore[attr-defined]
    bal = await state.ledger.balance(user_account(user_id), state.settings.currency)
    return int(bal.available_minor)


async def test_create_prove_and_get_the_stake_back(pages: Pages) -> None:
    server = pages.server
    me = await login_tokens(server, random_phone())
    uid = me["user"]["id"]
    await fund(server, uid, 50_000)
    page = await page_for(pages, me, "/#/compete/challenges")

    # An ambiguous date gets a question back, never a guess.
    await page.fill("#c-goal", "Run 5 km")
    await page.fill("#c-deadline", "Saturday at 10")
    await page.fill("#c-stake", "200")
    await page.click("#c-form button[type=submit]")
    await page.wait_for_selector("#c-draft >> text=Which did you mean?")
    await shot(page, "app-challenge-question")
    options = page.locator("#c-draft .choices button")
    assert await options.count() == 2
    assert {"10:00", "22:00"} <= {(await options.nth(i).inner_text())[-5:] for i in range(2)}
    await page.click("#c-draft >> text=None of these")

    # A clear deadline in words: check, confirm, the stake goes on hold.
    await page.fill("#c-goal", "Go to the gym")
    await page.fill("#c-deadline", "tomorrow 7pm")
    await page.click("#c-form button[type=submit]")
    await page.wait_for_selector("#c-draft >> text=Check and confirm")
    assert "19:00" in await page.inner_text("#c-draft-deadline")
    await page.click("#c-confirm")
    await page.wait_for_selector("#c-msg >> text=200 credits is on hold")
    assert await available(server, uid) == 30_000
    card = page.locator("#c-open .challenge", has_text="Go to the gym")
    await card.wait_for()
    await no_horizontal_scroll(page)

    # A proof from the phone.
    await card.locator("input[type=file]").set_input_files(
        files=[{"name": "gym.png", "mimeType": "image/png", "buffer": photo()}])
    await page.wait_for_selector("#c-open >> text=Proof received: waiting for a check")
    await shot(page, "app-challenges")

    # An operator approves it in the console, looking at the picture.
    user, password = await superadmin(server)
    admin = await console(pages, PHONE_VIEWPORT, user=user, password=password)
    await admin.click("#nav >> text=Challenges")
    row = admin.locator("tr", has_text="Go to the gym")
    await row.locator("img.proof-img").wait_for()
    await admin.wait_for_function(
        "() => document.querySelector('img.proof-img').naturalWidth === 64")
    await shot(admin, "console-challenges")
    await row.get_by_role("button", name="Approve").click()
    await admin.wait_for_selector("#screen .msg.ok >> text=200 credits goes back")
    await admin.wait_for_selector("tr:has-text('Go to the gym') >> text=met: stake returned")

    # The player sees it without a reload: history, stats, the stake back.
    await page.wait_for_selector("#c-history >> text=done: stake returned", timeout=15_000)
    assert "+200 credits" in await page.inner_text("#c-history")
    assert "100%" in await page.inner_text("#c-stats")
    assert await available(server, uid) == 50_000

    # Cancel within the cooling-off window: a full refund.
    await page.fill("#c-goal", "Read a book")
    await page.fill("#c-deadline", "in 3 days")
    await page.fill("#c-stake", "150")
    await page.click("#c-form button[type=submit]")
    await page.click("#c-confirm")
    card = page.locator("#c-open .challenge", has_text="Read a book")
    await card.get_by_role("button", name="Cancel for a full refund").click()
    await page.wait_for_selector("#c-msg >> text=Cancelled: 150 credits is back")
    assert await available(server, uid) == 50_000
    text = await page.inner_text("body")
    assert "$" not in text and "minor" not in text
    assert not page.errors and not admin.errors, (page.errors, admin.errors)
