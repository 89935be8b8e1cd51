"""The WhatsApp simulator: signed webhooks in, the Graph API stand-in's replies out."""

from __future__ import annotations

import json

from server.channels.whatsapp.webhook import signature_of
from tests.browser.conftest import PHONE_VIEWPORT, Pages


async def test_a_newcomer_chats_with_the_bot_without_a_meta_app(pages: Pages) -> None:
    page = await pages.new(PHONE_VIEWPORT)
    await page.goto("/demo/whatsapp")
    await page.fill("#wa-phone", "254700555111")
    await page.click("#chips >> text=help")
    await page.wait_for_selector(".bubble.them", timeout=15_000)
    assert "Balance" in await page.inner_text(".bubble.them >> nth=0"), "the menu's buttons"
    await page.click(".bubble.them button >> text=Balance")  # a tapped button, as on a phone
    await page.wait_for_function("() => document.querySelectorAll('.bubble.them').length >= 2",
                                 timeout=15_000)
    assert "credits" in await page.inner_text(".bubble.them >> nth=1")
    await page.fill("#wa-text", "deposit 50")
    await page.click("#send-form button")
    await page.wait_for_function("() => document.querySelectorAll('.bubble.them').length >= 3",
                                 timeout=15_000)
    assert not page.errors


async def test_the_webhook_still_refuses_a_wrong_signature(pages: Pages) -> None:
    state = pages.server.state
    body = json.dumps({"object": "whatsapp_business_account", "entry": []}).encode()
    async with pages.server.http() as http:
        bad = await http.post("/webhooks/whatsapp", content=body, headers={
            "x-hub-signature-256": signature_of("not-the-secret", body)})
        good = await http.post("/webhooks/whatsapp", content=body, headers={
            "x-hub-signature-256": signature_of(state.settings.whatsapp_app_secret, body)})
    assert bad.status_code == 401 and good.status_code == 200
