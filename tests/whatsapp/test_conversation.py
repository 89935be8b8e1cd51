"""A WhatsApp conversation through signed webhooks, every reply checked at the fake Graph API."""

from __future__ import annotations

from typing import Any

import httpx

from ledger import TransferRequest, transfer_id
from tests.fakes.graph_api import FakeGraphApi
from tests.whatsapp.helpers import Chat


async def _user_id(pool: Any, phone: str) -> str:
    uid = await pool.fetchval("SELECT id::text FROM users WHERE phone_e164 = $1", phone)
    assert uid is not None
    return str(uid)


async def test_conversation(
    client: httpx.AsyncClient, fake: FakeGraphApi, pool: Any, ledger: Any
) -> None:
    chat = Chat(client, fake)

    # First contact creates the player (the same account the phone login uses) and gets help.
    hello = await chat.say("Hi")
    assert hello.body["type"] == "interactive" and hello.body["interactive"]["type"] == "list"
    assert hello.headers["authorization"] == "Bearer test-token"
    assert "credits" in hello.text
    user_id = await _user_id(pool, chat.phone)

    # Typos and case are forgiven.
    reply = await chat.say("  BALNCE ")
    assert reply.text == "Your balance: 0 credits available."

    await ledger.transfer(TransferRequest(
        transfer_id("wa-test-credit", user_id), "world", f"user:{user_id}", 100_000, "KES",
        code="deposit"))
    assert "1000 credits available" in (await chat.say("balance")).text

    # Anything else: a short menu with at most three reply buttons.
    menu = await chat.say("what can I do here?")
    buttons = menu.body["interactive"]["action"]["buttons"]
    assert menu.body["interactive"]["type"] == "button" and 1 <= len(buttons) <= 3
    assert all(len(b["reply"]["title"]) <= 20 for b in buttons)

    # Tapping a button or a list row runs its command.
    tapped = await chat.send("button_reply", REPLY_ID=buttons[0]["reply"]["id"], TEXT="Balance")
    assert "1000 credits available" in tapped.text
    history = await chat.send("list_reply", REPLY_ID="cmd:history", TEXT="History")
    assert "+1000 credits" in history.text and "deposit" in history.text

    # A quick game bet, then its verification.
    spin = await chat.say("whel 50")
    assert "Stake 50 credits" in spin.text and "Bet id" in spin.text
    bet_id = spin.text.split("Bet id ")[1].split(" ")[0]
    verify = await chat.say(f"verify {bet_id}")
    assert "seed" in verify.text.lower()

    # Errors are a clear sentence and change nothing.
    bad = await chat.say("wheel fifty")
    assert "e.g. 'wheel 50'" in bad.text
    too_much = await chat.say("wheel 100000")
    assert "stake" in too_much.text.lower() or "balance" in too_much.text.lower()

    # Quiz: a link to play in the app.
    quiz = await chat.say("quiz 100")
    assert "/?stake=100" in quiz.text and "queue" in quiz.text

    # Alerts off and on again (a template's quick-reply button also works).
    off = await chat.say("stpo")
    assert "Alerts are off" in off.text
    assert await pool.fetchval("SELECT alerts_enabled FROM users WHERE id = $1::uuid",
                               user_id) is False
    on = await chat.send("template_button", REPLY_ID="start", TEXT="Start alerts")
    assert "Alerts are on" in on.text
    assert await pool.fetchval("SELECT alerts_enabled FROM users WHERE id = $1::uuid",
                               user_id) is True

    # Nothing the user typed ever produced a request the real API would refuse.
    assert fake.problems() == []
    # The channel's own wording speaks of credits and never promises winnings.
    for own in (hello, menu, reply, quiz):
        assert "win" not in own.text.lower()
