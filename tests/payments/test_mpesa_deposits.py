"""M-Pesa deposits end to end: STK Push to the fake Daraja, callbacks back over HTTP."""

from __future__ import annotations

import base64
import re
import uuid
from datetime import datetime
from typing import Any

import httpx
import pytest

from ledger import Ledger, transfer_id
from server.money.payments.daraja import DarajaClient
from server.money.payments.mpesa import NAIROBI
from server.money.payments.reconcile import reconcile_once
from tests.fakes.daraja import FakeDaraja, deliver, stk_callback
from tests.payments.conftest import (
    CALLBACK_TOKEN,
    PASSKEY,
    SHORTCODE,
    Player,
    mpesa_settings,
    new_player,
)
from tests.support import LiveServer

pytestmark = pytest.mark.usefixtures("ledger")


async def push(live: LiveServer, player: Player, amount_minor: int) -> httpx.Response:
    async with live.http() as client:
        return await client.post("/payments/deposits", json={"amount_minor": amount_minor},
                                 headers=player.headers)


async def available(ledger: Ledger, player: Player) -> int:
    return (await ledger.balance(player.owner, "KES")).available_minor


async def request_row(live: LiveServer, checkout: str) -> Any:
    return await live.state.pool.fetchrow(
        "SELECT * FROM mpesa_requests WHERE checkout_request_id = $1", checkout)


async def alerts(live: LiveServer, player: Player) -> list[tuple[str, dict[str, Any]]]:
    rows = await live.state.pool.fetch(
        "SELECT kind, payload FROM outbox WHERE recipient = $1 ORDER BY created_at, kind",
        player.user_id)
    return [(r["kind"], r["payload"]) for r in rows]


def stk_url(live: LiveServer, token: str = CALLBACK_TOKEN) -> str:
    return f"{live.base_url}/payments/mpesa/stk/{token}"


async def started(live: LiveServer, fake: FakeDaraja, player: Player, amount_minor: int) -> str:
    r = await push(live, player, amount_minor)
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["provider"] == "mpesa" and body["state"] == "pending"
    return str(body["checkout_request_id"])


async def test_stk_push_has_daraja_shape(mpesa_server: LiveServer, fake_daraja: FakeDaraja) -> None:
    player = await new_player(mpesa_server.state.pool, mpesa_server.state.jwt_secret)
    checkout = await started(mpesa_server, fake_daraja, player, 50_000)
    (req,) = [r for r in fake_daraja.stk_pushes() if r.body["PhoneNumber"] == player.phone[1:]]
    b = req.body
    assert re.fullmatch(r"\d{14}", b["Timestamp"])
    stamp = datetime.strptime(b["Timestamp"], "%Y%m%d%H%M%S").replace(tzinfo=NAIROBI)
    assert stamp.utcoffset() is not None and stamp.utcoffset().total_seconds() == 3 * 3600
    assert b["Password"] == base64.b64encode(
        f"{SHORTCODE}{PASSKEY}{b['Timestamp']}".encode()).decode()
    assert b["BusinessShortCode"] == SHORTCODE and b["PartyB"] == SHORTCODE
    assert b["TransactionType"] == "CustomerPayBillOnline"
    assert b["Amount"] == 500 and isinstance(b["Amount"], int)
    assert b["PartyA"] == b["PhoneNumber"] and b["PartyA"].startswith("2547")
    assert len(b["PartyA"]) == 12
    assert 1 <= len(b["AccountReference"]) <= 12 and 1 <= len(b["TransactionDesc"]) <= 13
    assert b["CallBackURL"] == stk_url(mpesa_server)
    assert req.headers["authorization"].startswith("Bearer tok")
    row = await request_row(mpesa_server, checkout)
    assert row["state"] == "pending" and row["amount_minor"] == 50_000


async def test_token_is_cached_until_shortly_before_expiry(fake_daraja: FakeDaraja,
                                                           settings: Any) -> None:
    now = [1000.0]
    client = DarajaClient(mpesa_settings(settings, fake_daraja), monotonic=lambda: now[0])
    before = len(fake_daraja.calls("/oauth/v1/generate"))
    try:
        for _ in range(3):
            await client.stk_push("+254712345678", 10_000, account_ref="Matchpot",
                                  description="Deposit")
        assert len(fake_daraja.calls("/oauth/v1/generate")) == before + 1
        now[0] += fake_daraja.token_ttl_s - 30  # inside the refresh margin
        await client.stk_push("+254712345678", 10_000, account_ref="Matchpot",
                              description="Deposit")
        assert len(fake_daraja.calls("/oauth/v1/generate")) == before + 2
    finally:
        await client.aclose()
    tokens = {r.headers["authorization"] for r in fake_daraja.stk_pushes()[-4:]}
    assert len(tokens) == 2


@pytest.mark.parametrize(("amount", "code"), [(10_050, "amount_not_whole"),
                                              (500, "amount_out_of_range"),
                                              (0, "invalid_request")])
async def test_bad_amount_is_refused_and_nothing_is_sent(
    mpesa_server: LiveServer, fake_daraja: FakeDaraja, amount: int, code: str
) -> None:
    player = await new_player(mpesa_server.state.pool, mpesa_server.state.jwt_secret)
    pushes = len(fake_daraja.stk_pushes())
    r = await push(mpesa_server, player, amount)
    assert r.status_code == 400 and r.json()["code"] == code
    assert len(fake_daraja.stk_pushes()) == pushes
    assert await mpesa_server.state.pool.fetchval(
        "SELECT count(*) FROM mpesa_requests WHERE user_id = $1::uuid", player.user_id) == 0


async def test_success_credits_once_and_later_callbacks_change_nothing(
    mpesa_server: LiveServer, fake_daraja: FakeDaraja, ledger: Ledger
) -> None:
    player = await new_player(mpesa_server.state.pool, mpesa_server.state.jwt_secret)
    checkout = await started(mpesa_server, fake_daraja, player, 25_000)
    receipt = "RK" + uuid.uuid4().hex[:8].upper()
    ok = stk_callback(checkout, 0, amount_kes=250, receipt=receipt)
    for body in (ok, ok, stk_callback(checkout, 1032), stk_callback(checkout, 1)):
        r = await deliver(stk_url(mpesa_server), body)
        assert r.status_code == 200 and r.json() == {"ResultCode": 0, "ResultDesc": "Accepted"}
    assert await available(ledger, player) == 25_000
    t = await ledger.get_transfer(transfer_id("mpesa", checkout))
    assert t is not None and t.ext_ref == receipt and t.debit == "clearing:mpesa"
    row = await request_row(mpesa_server, checkout)
    assert (row["state"], row["receipt"]) == ("paid", receipt)
    kinds = [k for k, _ in await alerts(mpesa_server, player)]
    assert kinds == ["deposit_approved"]


async def test_cancelled_request_fails_with_a_message_and_a_late_success_is_ignored(
    mpesa_server: LiveServer, fake_daraja: FakeDaraja, ledger: Ledger
) -> None:
    player = await new_player(mpesa_server.state.pool, mpesa_server.state.jwt_secret)
    checkout = await started(mpesa_server, fake_daraja, player, 10_000)
    await deliver(stk_url(mpesa_server), stk_callback(checkout, 1032))
    await deliver(stk_url(mpesa_server),
                  stk_callback(checkout, 0, amount_kes=100, receipt="RLATE00001"))
    assert await available(ledger, player) == 0
    row = await request_row(mpesa_server, checkout)
    assert (row["state"], row["result_code"], row["receipt"]) == ("failed", 1032, None)
    ((kind, payload),) = await alerts(mpesa_server, player)
    assert kind == "deposit_failed" and "cancelled" in payload["text"]


async def test_wrong_token_is_404_and_changes_nothing(
    mpesa_server: LiveServer, fake_daraja: FakeDaraja, ledger: Ledger
) -> None:
    player = await new_player(mpesa_server.state.pool, mpesa_server.state.jwt_secret)
    checkout = await started(mpesa_server, fake_daraja, player, 10_000)
    body = stk_callback(checkout, 0, amount_kes=100, receipt="RFORGED001")
    r = await deliver(stk_url(mpesa_server, "wrong-token"), body)
    assert r.status_code == 404
    assert await available(ledger, player) == 0
    assert (await request_row(mpesa_server, checkout))["state"] == "pending"


async def test_a_receipt_credits_only_once_across_requests(
    mpesa_server: LiveServer, fake_daraja: FakeDaraja, ledger: Ledger
) -> None:
    player = await new_player(mpesa_server.state.pool, mpesa_server.state.jwt_secret)
    first = await started(mpesa_server, fake_daraja, player, 10_000)
    second = await started(mpesa_server, fake_daraja, player, 10_000)
    receipt = "RDUP" + uuid.uuid4().hex[:6].upper()
    await deliver(stk_url(mpesa_server), stk_callback(first, 0, amount_kes=100, receipt=receipt))
    await deliver(stk_url(mpesa_server), stk_callback(second, 0, amount_kes=100, receipt=receipt))
    assert await available(ledger, player) == 10_000
    # the reused receipt changes nothing: the second request stays pending ...
    row = await request_row(mpesa_server, second)
    assert (row["state"], row["receipt"], row["transfer_id"]) == ("pending", None, None)
    # ... so its own genuine callback still credits it, once
    own_receipt = "ROWN" + uuid.uuid4().hex[:6].upper()
    own = stk_callback(second, 0, amount_kes=100, receipt=own_receipt)
    for _ in range(2):
        await deliver(stk_url(mpesa_server), own)
    assert await available(ledger, player) == 20_000
    row = await request_row(mpesa_server, second)
    assert (row["state"], row["receipt"]) == ("paid", own_receipt)


async def test_unparseable_or_unknown_callbacks_are_acknowledged_and_ignored(
    mpesa_server: LiveServer,
) -> None:
    async with httpx.AsyncClient() as client:
        r = await client.post(stk_url(mpesa_server), content=b"not json")
        assert r.status_code == 200 and r.json()["ResultCode"] == 0
    r = await deliver(stk_url(mpesa_server), stk_callback("ws_CO_unknown", 0, amount_kes=1,
                                                          receipt="RUNKNOWN01"))
    assert r.status_code == 200
    assert await mpesa_server.state.pool.fetchval(
        "SELECT count(*) FROM transfers WHERE ext_ref = 'RUNKNOWN01'") == 0


async def test_reconciliation_queries_requests_left_pending(
    mpesa_server: LiveServer, fake_daraja: FakeDaraja, ledger: Ledger
) -> None:
    state = mpesa_server.state
    player = await new_player(state.pool, state.jwt_secret)
    paid = await started(mpesa_server, fake_daraja, player, 30_000)
    cancelled = await started(mpesa_server, fake_daraja, player, 20_000)
    unknown = await started(mpesa_server, fake_daraja, player, 10_000)
    mine = {paid, cancelled, unknown}
    counts = await reconcile_once(state)  # none of them is old enough yet
    # (the database may hold other tests' old pending requests: only ours are looked at)
    assert not [r for r in fake_daraja.calls("/mpesa/stkpushquery/v1/query")
                if r.body["CheckoutRequestID"] in mine]
    await state.pool.execute(
        "UPDATE mpesa_requests SET created_at = now() - interval '10 minutes'"
        " WHERE checkout_request_id = ANY($1::text[])", [paid, cancelled, unknown])
    fake_daraja.query_results[paid] = (0, "The service request is processed successfully.")
    fake_daraja.query_results[cancelled] = (1032, "Request cancelled by user")
    counts = await reconcile_once(state)
    assert counts["paid"] >= 1 and counts["failed"] >= 1
    assert await available(ledger, player) == 30_000
    assert (await request_row(mpesa_server, paid))["state"] == "paid"
    assert (await request_row(mpesa_server, cancelled))["state"] == "failed"
    still = await request_row(mpesa_server, unknown)
    assert still["state"] == "pending" and still["query_attempts"] == 1
    q = next(r for r in fake_daraja.calls("/mpesa/stkpushquery/v1/query")
         if r.body["CheckoutRequestID"] == paid)
    assert q.body["Password"] == base64.b64encode(
        f"{SHORTCODE}{PASSKEY}{q.body['Timestamp']}".encode()).decode()
    # the real callback arriving afterwards changes nothing more but records the receipt
    await deliver(stk_url(mpesa_server), stk_callback(paid, 0, amount_kes=300,
                                                      receipt="RRECON0001"))
    assert await available(ledger, player) == 30_000
    assert (await request_row(mpesa_server, paid))["receipt"] == "RRECON0001"
