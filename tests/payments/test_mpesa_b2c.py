"""Withdrawals paid by M-Pesa B2C: sent once, finished once by the result callback."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from ledger import Ledger, TransferRequest, transfer_id
from server.money.wallets.service import get_withdrawal, request_withdrawal
from tests.fakes.daraja import FakeDaraja, b2c_result, deliver
from tests.payments.conftest import CALLBACK_TOKEN, Player, admin_headers, new_player
from tests.support import LiveServer

pytestmark = pytest.mark.usefixtures("ledger")


async def funded_withdrawal(live: LiveServer, ledger: Ledger, amount_minor: int,
                            funds_minor: int = 100_000) -> tuple[Player, str]:
    player = await new_player(live.state.pool, live.state.jwt_secret)
    await ledger.transfer(TransferRequest(uuid.uuid4(), "world", player.owner, funds_minor,
                                          "KES", code="deposit"))
    w = await request_withdrawal(live.state, player.user_id, amount_minor, None)
    return player, w.id


async def pay(live: LiveServer, withdrawal_id: str) -> Any:
    headers = await admin_headers(live.state.pool, live.state.jwt_secret, "finance")
    async with live.http() as client:
        return await client.post(f"/admin/payments/withdrawals/{withdrawal_id}/pay",
                                 headers=headers)


def url(live: LiveServer, kind: str, token: str = CALLBACK_TOKEN) -> str:
    return f"{live.base_url}/payments/mpesa/b2c/{kind}/{token}"


async def balance(ledger: Ledger, player: Player) -> tuple[int, int]:
    b = await ledger.balance(player.owner, "KES")
    return b.posted_minor, b.available_minor


async def test_b2c_request_shape_and_sent_only_once(
    mpesa_server: LiveServer, fake_daraja: FakeDaraja, ledger: Ledger
) -> None:
    player, wid = await funded_withdrawal(mpesa_server, ledger, 20_000)
    r = await pay(mpesa_server, wid)
    assert r.status_code == 200, r.text
    assert r.json()["b2c_state"] == "pending"
    again = await pay(mpesa_server, wid)
    assert again.status_code == 200 and again.json()["b2c_state"] == "pending"
    sent = [q for q in fake_daraja.b2c_requests() if q.body["PartyB"] == player.phone[1:]]
    assert len(sent) == 1
    b = sent[0].body
    assert b["OriginatorConversationID"] == str(transfer_id(uuid.UUID(wid), "b2c"))
    assert b["Amount"] == 200 and b["CommandID"] == "BusinessPayment"
    assert b["PartyA"] == "600996" and b["InitiatorName"] == "testapi"
    assert b["ResultURL"] == url(mpesa_server, "result")
    assert b["QueueTimeOutURL"] == url(mpesa_server, "timeout")
    w = await get_withdrawal(mpesa_server.state, wid)
    assert w is not None and w.state == "pending"  # paid only when the result says so


async def test_result_success_posts_the_hold_once(
    mpesa_server: LiveServer, fake_daraja: FakeDaraja, ledger: Ledger
) -> None:
    player, wid = await funded_withdrawal(mpesa_server, ledger, 30_000)
    assert (await pay(mpesa_server, wid)).status_code == 200
    assert await balance(ledger, player) == (100_000, 70_000)
    oid = str(transfer_id(uuid.UUID(wid), "b2c"))
    timeout = await deliver(url(mpesa_server, "timeout"), b2c_result(oid, 1))
    assert timeout.json() == {"ResultCode": 0, "ResultDesc": "Accepted"}
    w = await get_withdrawal(mpesa_server.state, wid)
    assert w is not None and w.state == "pending"  # a queue timeout is not a failure
    assert await mpesa_server.state.pool.fetchval(
        "SELECT timed_out_at IS NOT NULL FROM mpesa_b2c WHERE withdrawal_id = $1::uuid", wid)
    ok = b2c_result(oid, 0, receipt="QB2C" + uuid.uuid4().hex[:6].upper(), amount_kes=300)
    for body in (ok, ok, b2c_result(oid, 2001)):
        r = await deliver(url(mpesa_server, "result"), body)
        assert r.status_code == 200
    assert await balance(ledger, player) == (70_000, 70_000)
    w = await get_withdrawal(mpesa_server.state, wid)
    assert w is not None and w.state == "approved"
    assert w.provider_ref == ok["Result"]["TransactionID"]


async def test_result_failure_voids_the_hold_once(
    mpesa_server: LiveServer, fake_daraja: FakeDaraja, ledger: Ledger
) -> None:
    player, wid = await funded_withdrawal(mpesa_server, ledger, 40_000)
    assert (await pay(mpesa_server, wid)).status_code == 200
    oid = str(transfer_id(uuid.UUID(wid), "b2c"))
    for body in (b2c_result(oid, 2001), b2c_result(oid, 0, receipt="QLATE00001",
                                                   amount_kes=400)):
        await deliver(url(mpesa_server, "result"), body)
    assert await balance(ledger, player) == (100_000, 100_000)
    w = await get_withdrawal(mpesa_server.state, wid)
    assert w is not None and w.state == "failed"


async def test_wrong_token_changes_nothing(
    mpesa_server: LiveServer, fake_daraja: FakeDaraja, ledger: Ledger
) -> None:
    player, wid = await funded_withdrawal(mpesa_server, ledger, 10_000)
    assert (await pay(mpesa_server, wid)).status_code == 200
    oid = str(transfer_id(uuid.UUID(wid), "b2c"))
    r = await deliver(url(mpesa_server, "result", "nope"), b2c_result(oid, 0, receipt="QX1",
                                                                      amount_kes=100))
    assert r.status_code == 404
    assert await balance(ledger, player) == (100_000, 90_000)


async def test_refused_b2c_request_leaves_the_withdrawal_pending_and_retryable(
    mpesa_server: LiveServer, fake_daraja: FakeDaraja, ledger: Ledger
) -> None:
    player, wid = await funded_withdrawal(mpesa_server, ledger, 10_000)
    fake_daraja.b2c_mode = "reject"
    try:
        r = await pay(mpesa_server, wid)
        assert r.status_code == 502 and r.json()["code"] == "provider_rejected"
    finally:
        fake_daraja.b2c_mode = "ok"
    w = await get_withdrawal(mpesa_server.state, wid)
    assert w is not None and w.state == "pending"
    assert (await pay(mpesa_server, wid)).json()["b2c_state"] == "pending"
    assert await balance(ledger, player) == (100_000, 90_000)


async def test_player_cannot_pay_withdrawals(mpesa_server: LiveServer, ledger: Ledger) -> None:
    player, wid = await funded_withdrawal(mpesa_server, ledger, 10_000)
    async with mpesa_server.http() as client:
        r = await client.post(f"/admin/payments/withdrawals/{wid}/pay", headers=player.headers)
    assert r.status_code == 403
