"""Issue 4's "done when": one WhatsApp conversation end to end through signed webhooks.

Balance, a deposit through the fake M-Pesa (STK Push, callback, duplicate callback),
a Lucky Wheel bet and its verification after a seed rotation, and a Football Yes/No
bet settled by an admin over HTTP. Every reply and alert is checked at the fake
Graph API: recipient, amounts, and each alert delivered once.
"""

from __future__ import annotations

import base64
import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from ledger import Ledger
from server.auth.tokens import issue_access_token
from tests.fakes.daraja import FakeDaraja, deliver, stk_callback
from tests.fakes.graph_api import FakeGraphApi
from tests.payments.conftest import CALLBACK_TOKEN, PASSKEY, SHORTCODE, admin_headers
from tests.support import LiveServer
from tests.whatsapp.helpers import Chat

KES = "KES"


async def available_minor(ledger: Ledger, user_id: str) -> int:
    return (await ledger.balance(f"user:{user_id}", KES)).available_minor


def credits(minor: int) -> str:
    assert minor % 100 == 0
    return f"{minor // 100} credits"


def balance_in(text: str) -> int:
    """The 'Balance: N credits' a bet reply ends with, in minor units."""
    found = re.search(r"Balance: (\d+)(?:\.(\d\d))? credits", text)
    assert found is not None, text
    return int(found.group(1)) * 100 + int(found.group(2) or 0)


async def test_whatsapp_conversation_end_to_end(
    e2e_server: LiveServer, client: httpx.AsyncClient, fake: FakeGraphApi,
    fake_daraja: FakeDaraja, ledger: Ledger,
) -> None:
    state = e2e_server.state
    chat = Chat(client, fake)

    # 1. Balance: first contact creates the player, who starts with nothing.
    reply = await chat.say("balance")
    assert reply.body["to"] == chat.wa_id
    assert reply.text == "Your balance: 0 credits available."
    user_id = str(await state.pool.fetchval(
        "SELECT id FROM users WHERE phone_e164 = $1", chat.phone))
    assert await available_minor(ledger, user_id) == 0

    # 2. Deposit 500 through M-Pesa: the STK Push reaches Daraja in its documented shape.
    reply = await chat.say("deposit 500")
    assert "M-Pesa" in reply.text and "KES 500" in reply.text and credits(50_000) in reply.text
    pushes = [p for p in fake_daraja.stk_pushes() if p.body["PhoneNumber"] == chat.wa_id]
    assert len(pushes) == 1
    push = pushes[0].body
    assert re.fullmatch(r"\d{14}", push["Timestamp"])
    assert push["Password"] == base64.b64encode(
        f"{SHORTCODE}{PASSKEY}{push['Timestamp']}".encode()).decode()
    assert push["BusinessShortCode"] == SHORTCODE and push["PartyB"] == SHORTCODE
    assert push["TransactionType"] == "CustomerPayBillOnline"
    assert push["Amount"] == 500 and push["PartyA"] == chat.wa_id
    assert push["CallBackURL"] == f"{e2e_server.base_url}/payments/mpesa/stk/{CALLBACK_TOKEN}"
    assert 1 <= len(push["AccountReference"]) <= 12 and 1 <= len(push["TransactionDesc"]) <= 13
    checkout = await state.pool.fetchval(
        "SELECT checkout_request_id FROM mpesa_requests WHERE user_id = $1::uuid", user_id)
    assert checkout is not None
    assert await available_minor(ledger, user_id) == 0  # nothing until M-Pesa confirms

    # Daraja calls back with success and a receipt, then the same callback again.
    receipt = "QE2E" + uuid.uuid4().hex[:6].upper()
    callback = stk_callback(checkout, 0, amount_kes=500, receipt=receipt,
                            phone=int(chat.wa_id))
    url = str(push["CallBackURL"])
    for _ in range(2):
        ack = await deliver(url, callback)
        assert ack.status_code == 200 and ack.json()["ResultCode"] == 0
    assert await available_minor(ledger, user_id) == 50_000  # credited once
    deposit_alert = await chat.wait_alert("deposit of 500 credits arrived")
    assert receipt in deposit_alert.text and deposit_alert.body["to"] == chat.wa_id
    reply = await chat.say("balance")
    assert reply.text == "Your balance: 500 credits available."

    # 3. Lucky Wheel: a 50-credit spin, then its verification once the seed is revealed.
    spin = await chat.say("wheel 50")
    assert "Stake 50 credits" in spin.text and "Bet id" in spin.text
    after_spin_minor = await available_minor(ledger, user_id)
    assert balance_in(spin.text) == after_spin_minor
    payout_minor = after_spin_minor - (50_000 - 5_000)
    assert payout_minor >= 0 and payout_minor % 100 == 0
    bet_id = spin.text.split("Bet id ")[1].split(" ")[0]
    secret = await chat.say(f"verify {bet_id}")
    assert "still secret" in secret.text  # not revealed before rotation
    token = issue_access_token(state.jwt_secret, user_id, "player", 600)
    rotated = await client.post("/games/fair/rotate", json={},
                                headers={"Authorization": f"Bearer {token}"})
    assert rotated.status_code == 200, rotated.text
    verified = await chat.say(f"verify {bet_id}")
    assert verified.text.startswith("Verified:") and "as recorded" in verified.text

    # 4. Football Yes/No: an admin asks, the player stakes 50 on yes, the admin settles yes.
    admin = await admin_headers(state.pool, state.jwt_secret, "operator")
    question = f"Gor Mahia win {uuid.uuid4().hex[:4]}?"
    created = await client.post("/admin/football", headers=admin, json={
        "question": question, "odds_yes": "+150", "odds_no": "-200",
        "closes_at": (datetime.now(UTC) + timedelta(hours=1)).isoformat()})
    assert created.status_code == 201, created.text
    qid = created.json()["id"]
    listing = await chat.say("football")
    assert listing.body["type"] == "interactive"
    rows = listing.body["interactive"]["action"]["sections"][0]["rows"]
    row_id = f"cmd:football {qid}"
    assert row_id in [r["id"] for r in rows]
    picked = await chat.send("list_reply", REPLY_ID=row_id, TEXT=question)
    assert question in picked.text and "Yes pays +150" in picked.text
    bet = await chat.say("yes 50")
    assert "Bet id" in bet.text and "settled" in bet.text
    assert balance_in(bet.text) == after_spin_minor - 5_000
    assert await available_minor(ledger, user_id) == after_spin_minor - 5_000  # held
    settled = await client.post(f"/admin/football/{qid}/settle", headers=admin,
                                json={"result": "yes"})
    assert settled.status_code == 200, settled.text
    # +150: 50 staked returns 50 + 75.
    result_alert = await chat.wait_alert(f'"{question}" was settled YES')
    assert credits(12_500) in result_alert.text
    assert await available_minor(ledger, user_id) == after_spin_minor - 5_000 + 12_500
    reply = await chat.say("balance")
    assert reply.text == f"Your balance: {credits(after_spin_minor + 7_500)} available."

    # Every alert arrived exactly once; nothing sent to this user broke the API's rules.
    assert len(chat.alerts("deposit of 500 credits arrived")) == 1
    assert len(chat.alerts(f'"{question}" was settled')) == 1
    keys = [r.key for r in chat.fake.to(chat.phone) if r.status == 200]
    assert len(keys) == len(set(keys))
    assert all(r.problems == [] for r in fake.to(chat.phone))
    assert all(r.body["to"] == chat.wa_id for r in fake.to(chat.phone))
    texts: list[Any] = [r.text.lower() for r in fake.to(chat.phone)]
    assert not any("kes" in t and "credits" not in t for t in texts)  # credits mode wording
