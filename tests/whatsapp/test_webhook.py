"""The webhook end to end: verification, signatures, size cap, duplicates, statuses."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx

from tests.fakes.graph_api import FakeGraphApi
from tests.waiting import eventually
from tests.whatsapp.helpers import (
    VERIFY_TOKEN,
    body_of,
    new_wa_id,
    new_wamid,
    payload,
    post_webhook,
    signed_headers,
)


async def test_verification_echoes_the_challenge(client: httpx.AsyncClient) -> None:
    ok = await client.get("/webhooks/whatsapp", params={
        "hub.mode": "subscribe", "hub.verify_token": VERIFY_TOKEN, "hub.challenge": "1158201444"})
    assert ok.status_code == 200 and ok.text == "1158201444"
    assert ok.headers["content-type"].startswith("text/plain")
    for params in (
        {"hub.mode": "subscribe", "hub.verify_token": "wrong", "hub.challenge": "1"},
        {"hub.mode": "unsubscribe", "hub.verify_token": VERIFY_TOKEN, "hub.challenge": "1"},
        {"hub.mode": "subscribe", "hub.challenge": "1"},
    ):
        bad = await client.get("/webhooks/whatsapp", params=params)
        assert bad.status_code == 403 and bad.json()["code"] == "verify_token_invalid"


async def _rows(pool: Any, wamid: str) -> int:
    return int(await pool.fetchval("SELECT count(*) FROM wa_inbound WHERE wamid = $1", wamid))


async def test_forged_or_missing_signature_is_refused_and_nothing_recorded(
    client: httpx.AsyncClient, pool: Any, fake: FakeGraphApi
) -> None:
    wa_id, wamid = new_wa_id(), new_wamid()
    body = body_of(payload("text", WA_ID=wa_id, WAMID=wamid, TEXT="balance"))
    forged = await client.post("/webhooks/whatsapp", content=body,
                               headers=signed_headers(body, secret="not-the-app-secret"))
    assert forged.status_code == 401 and forged.json()["code"] == "signature_invalid"
    tampered = body.replace(b"balance", b"deposit 9")
    resp = await client.post("/webhooks/whatsapp", content=tampered, headers=signed_headers(body))
    assert resp.status_code == 401
    missing = await client.post("/webhooks/whatsapp", content=body,
                                headers={"content-type": "application/json"})
    assert missing.status_code == 401 and missing.json()["code"] == "signature_missing"
    assert await _rows(pool, wamid) == 0
    assert await pool.fetchval("SELECT count(*) FROM users WHERE phone_e164 = $1",
                               "+" + wa_id) == 0
    assert fake.to("+" + wa_id) == []


async def test_oversized_and_malformed_bodies(client: httpx.AsyncClient) -> None:
    big = b"{" + b" " * (1024 * 1024 + 10) + b"}"
    resp = await client.post("/webhooks/whatsapp", content=big, headers=signed_headers(big))
    assert resp.status_code == 413 and resp.json()["code"] == "body_too_large"
    junk = b"{not json"
    resp = await client.post("/webhooks/whatsapp", content=junk, headers=signed_headers(junk))
    assert resp.status_code == 400 and resp.json()["code"] == "invalid_json"
    other = json.dumps({"object": "page", "entry": []}).encode()
    resp = await client.post("/webhooks/whatsapp", content=other, headers=signed_headers(other))
    assert resp.status_code == 200 and resp.json()["received"] == 0


async def test_a_redelivered_message_takes_effect_once(
    client: httpx.AsyncClient, pool: Any, fake: FakeGraphApi
) -> None:
    wa_id, wamid = new_wa_id(), new_wamid()
    data = payload("text", WA_ID=wa_id, WAMID=wamid, TEXT="deposit 500")
    first = await post_webhook(client, data)
    assert first.status_code == 200 and first.json()["received"] == 1
    again = await asyncio.gather(*(post_webhook(client, data) for _ in range(3)))
    assert [r.status_code for r in again] == [200, 200, 200]
    assert [r.json()["received"] for r in again] == [0, 0, 0]
    # A later message from the same user is answered after the first (same-user order),
    # so once its reply is in, any duplicate effect would have shown.
    await post_webhook(client, payload("text", WA_ID=wa_id, WAMID=new_wamid(), TEXT="balance"))
    await fake.wait_for(lambda f: len(f.to("+" + wa_id)) >= 2)
    replies = fake.to("+" + wa_id)
    assert len(replies) == 2, [r.text for r in replies]
    assert "deposit request" in replies[0].text and "500 credits" in replies[0].text
    assert "balance" in replies[1].text.lower()
    assert await _rows(pool, wamid) == 1
    deposits = await pool.fetchval(
        "SELECT count(*) FROM deposit_requests d JOIN users u ON u.id = d.user_id"
        " WHERE u.phone_e164 = $1", "+" + wa_id)
    assert deposits == 1
    assert fake.problems() == []


async def _status(client: httpx.AsyncClient, wamid: str, status: str, ts: int, wa_id: str) -> None:
    name = "status_failed" if status == "failed" else "status"
    data = payload(name, WAMID=wamid, STATUS=status, TS=str(ts), WA_ID=wa_id)
    resp = await post_webhook(client, data)
    assert resp.status_code == 200


async def _reply_wamid(client: httpx.AsyncClient, fake: FakeGraphApi, pool: Any) -> tuple[str, str]:
    """Have the server answer one message; return (the reply's wamid, the user's wa id)."""
    wa_id, inbound = new_wa_id(), new_wamid()
    await post_webhook(client, payload("text", WA_ID=wa_id, WAMID=inbound, TEXT="help"))
    await fake.wait_for(lambda f: any(r.wamid for r in f.to("+" + wa_id)))
    (reply,) = fake.to("+" + wa_id)
    assert reply.key == f"reply:{inbound}:0" and reply.wamid
    # The sender records the wamid right after the 200.
    await eventually(lambda: pool.fetchval("SELECT wamid FROM wa_sends WHERE key = $1", reply.key),
                     what=f"the sender to record the wamid of {reply.key}")
    return reply.wamid, wa_id


async def _delivery(pool: Any, wamid: str) -> tuple[str | None, Any]:
    row = await pool.fetchrow("SELECT delivery, delivery_errors FROM wa_sends WHERE wamid = $1",
                              wamid)
    assert row is not None
    return row["delivery"], row["delivery_errors"]


async def test_out_of_order_statuses_never_move_backwards(
    client: httpx.AsyncClient, pool: Any, fake: FakeGraphApi
) -> None:
    wamid, wa_id = await _reply_wamid(client, fake, pool)
    await _status(client, wamid, "read", 300, wa_id)
    await _status(client, wamid, "sent", 100, wa_id)
    await _status(client, wamid, "delivered", 200, wa_id)
    await _status(client, wamid, "read", 300, wa_id)  # a redelivered status
    assert (await _delivery(pool, wamid))[0] == "read"
    assert await pool.fetchval("SELECT count(*) FROM wa_status WHERE wamid = $1", wamid) == 3


async def test_failed_is_kept_with_its_errors_unless_delivered_follows(
    client: httpx.AsyncClient, pool: Any, fake: FakeGraphApi
) -> None:
    wamid, wa_id = await _reply_wamid(client, fake, pool)
    await _status(client, wamid, "failed", 200, wa_id)
    await _status(client, wamid, "sent", 100, wa_id)
    delivery, errors = await _delivery(pool, wamid)
    assert delivery == "failed" and errors[0]["code"] == 131047
    await _status(client, wamid, "delivered", 300, wa_id)
    assert (await _delivery(pool, wamid))[0] == "delivered"


async def test_a_status_before_the_send_recorded_its_wamid_is_applied_later(
    client: httpx.AsyncClient, pool: Any
) -> None:
    early = "wamid.EARLY" + new_wamid()[-12:]
    await _status(client, early, "delivered", 100, new_wa_id())
    user_id = await pool.fetchval(
        "INSERT INTO users (phone_e164, display_name) VALUES ($1, 'Early') RETURNING id",
        "+" + new_wa_id())
    await pool.execute("INSERT INTO wa_sends (key, user_id, kind, state) VALUES ($1, $2, 'reply',"
                       " 'sending')", "early-key", user_id)
    # What Sender._record does when the 200 arrives after the status webhook:
    from server.channels.whatsapp.sender import ApiResult, Sender

    sender = Sender.__new__(Sender)
    sender.pool = pool
    sender.settings = None  # type: ignore[assignment]
    await sender._record("early-key", ApiResult("accepted", wamid=early), 1)
    assert (await _delivery(pool, early))[0] == "delivered"


async def test_the_channel_is_off_unless_enabled(server: Any) -> None:
    async with server.http() as c:
        resp = await c.get("/webhooks/whatsapp", params={
            "hub.mode": "subscribe", "hub.verify_token": VERIFY_TOKEN, "hub.challenge": "1"})
        assert resp.status_code == 404 and resp.json()["code"] == "whatsapp_disabled"
        body = b"{}"
        resp = await c.post("/webhooks/whatsapp", content=body, headers=signed_headers(body))
        assert resp.status_code == 404
