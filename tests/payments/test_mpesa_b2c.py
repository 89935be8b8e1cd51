"""Withdrawals paid by M-Pesa B2C: sent once, finished once by the result callback."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest

from ledger import Ledger, TransferRequest, transfer_id
from server.money.payments.reconcile import reconcile_b2c_once
from server.money.wallets.service import get_withdrawal, request_withdrawal
from tests.fakes.daraja import FakeDaraja, b2c_result, deliver
from tests.payments.conftest import (
    CALLBACK_TOKEN,
    FakeDarajaWithStatus,
    Player,
    admin_headers,
    b2c_status_result,
    new_player,
)
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
    assert await balance(ledger, player) == (100_000, 70_000)  # held
    assert (await pay(mpesa_server, wid)).status_code == 200
    assert await balance(ledger, player) == (70_000, 70_000)  # sent: off hold, in clearing
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
    assert await balance(ledger, player) == (90_000, 90_000)  # in flight, nothing paid
    w = await get_withdrawal(mpesa_server.state, wid)
    assert w is not None and w.state == "pending"


async def test_refused_b2c_request_fails_the_withdrawal_and_returns_the_amount_once(
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
    assert w is not None and w.state == "failed"
    assert await balance(ledger, player) == (100_000, 100_000)
    again = await pay(mpesa_server, wid)  # never sent again: it is decided
    assert again.status_code == 409 and again.json()["code"] == "already_decided"
    assert await balance(ledger, player) == (100_000, 100_000)
    sent = [q for q in fake_daraja.b2c_requests() if q.body["PartyB"] == player.phone[1:]]
    assert len(sent) == 1


async def test_player_cannot_pay_withdrawals(mpesa_server: LiveServer, ledger: Ledger) -> None:
    player, wid = await funded_withdrawal(mpesa_server, ledger, 10_000)
    async with mpesa_server.http() as client:
        r = await client.post(f"/admin/payments/withdrawals/{wid}/pay", headers=player.headers)
    assert r.status_code == 403


async def sweep_after_expiry(live: LiveServer, withdrawal_id: str) -> None:
    """Run the hold sweeper with a clock just past this withdrawal's hold expiry (the
    sweeper voids every hold expired by then, as the real one would a week later)."""
    w = await get_withdrawal(live.state, withdrawal_id)
    assert w is not None
    hold = await live.state.ledger.get_transfer(uuid.UUID(w.hold_id))
    assert hold is not None and hold.expires_at is not None
    late = hold.expires_at + timedelta(seconds=1)
    await Ledger(live.state.pool, clock=lambda: late).sweep_expired_holds(limit=10_000)
    assert await live.state.ledger.get_transfer(transfer_id(hold.id, "expire")) is None


async def payout_transfers(ledger: Ledger, wid: str) -> list[Any]:
    found = [await ledger.get_transfer(transfer_id(wid, kind))
             for kind in ("post", "payout_sent", "payout", "reversal", "void")]
    return [t for t in found if t is not None]


async def test_a_payout_in_flight_outlives_the_hold_and_is_paid_once(
    mpesa_server: LiveServer, fake_daraja: FakeDaraja, ledger: Ledger
) -> None:
    player, wid = await funded_withdrawal(mpesa_server, ledger, 30_000)
    assert (await pay(mpesa_server, wid)).status_code == 200
    await sweep_after_expiry(mpesa_server, wid)  # a week passes while M-Pesa is slow
    assert await balance(ledger, player) == (70_000, 70_000)  # not given back
    oid = str(transfer_id(uuid.UUID(wid), "b2c"))
    receipt = "QEXP" + uuid.uuid4().hex[:6].upper()
    ok = b2c_result(oid, 0, receipt=receipt, amount_kes=300)
    for _ in range(2):
        assert (await deliver(url(mpesa_server, "result"), ok)).status_code == 200
    w = await get_withdrawal(mpesa_server.state, wid)
    assert w is not None and (w.state, w.provider_ref) == ("approved", receipt)
    assert await balance(ledger, player) == (70_000, 70_000)
    moves = {t.code: (t.debit, t.credit, t.amount_minor, t.ext_ref)
             for t in await payout_transfers(ledger, wid)}
    assert moves == {
        "withdrawal": (player.owner, "clearing:withdrawals", 30_000, None),
        "withdrawal_payout_sent": ("clearing:withdrawals", "clearing:mpesa", 30_000, None),
        "withdrawal_out": ("clearing:mpesa", "world", 30_000, receipt),
    }


async def test_a_failed_payout_after_the_hold_expiry_returns_the_amount_once(
    mpesa_server: LiveServer, fake_daraja: FakeDaraja, ledger: Ledger
) -> None:
    player, wid = await funded_withdrawal(mpesa_server, ledger, 40_000)
    assert (await pay(mpesa_server, wid)).status_code == 200
    await sweep_after_expiry(mpesa_server, wid)
    oid = str(transfer_id(uuid.UUID(wid), "b2c"))
    failed = b2c_result(oid, 2001)
    for _ in range(2):
        await deliver(url(mpesa_server, "result"), failed)
    assert await balance(ledger, player) == (100_000, 100_000)
    # a crash between the wallet's commit and the payout row's update: replayed again
    await mpesa_server.state.pool.execute(
        "UPDATE mpesa_b2c SET state = 'pending' WHERE withdrawal_id = $1::uuid", wid)
    await deliver(url(mpesa_server, "result"), failed)
    await deliver(url(mpesa_server, "result"), b2c_result(oid, 0, receipt="QLATE00002",
                                                          amount_kes=400))
    assert await balance(ledger, player) == (100_000, 100_000)
    w = await get_withdrawal(mpesa_server.state, wid)
    assert w is not None and w.state == "failed"
    codes = sorted(t.code for t in await payout_transfers(ledger, wid))
    assert codes == ["withdrawal", "withdrawal_payout_sent", "withdrawal_reversal"]


async def test_reconciliation_asks_about_payouts_in_flight_and_settles_them(
    mpesa_server: LiveServer, fake_daraja: FakeDarajaWithStatus, ledger: Ledger
) -> None:
    state = mpesa_server.state
    paid_player, paid = await funded_withdrawal(mpesa_server, ledger, 10_000)
    failed_player, failed = await funded_withdrawal(mpesa_server, ledger, 20_000)
    unknown_player, unknown = await funded_withdrawal(mpesa_server, ledger, 30_000)
    _, fresh = await funded_withdrawal(mpesa_server, ledger, 10_000)
    for wid in (paid, failed, unknown, fresh):
        assert (await pay(mpesa_server, wid)).status_code == 200
    old = [uuid.UUID(w) for w in (paid, failed, unknown)]
    await state.pool.execute(
        "UPDATE mpesa_b2c SET created_at = now() - interval '1 hour'"
        " WHERE withdrawal_id = ANY($1::uuid[])", old)
    oids = {w: str(transfer_id(uuid.UUID(w), "b2c")) for w in (paid, failed, unknown, fresh)}
    before = len(fake_daraja.status_queries())
    await reconcile_b2c_once(state)
    asked = [q.body for q in fake_daraja.status_queries()[before:]]
    assert {b["OriginatorConversationID"] for b in asked} >= {oids[w] for w in (paid, failed,
                                                                                unknown)}
    assert oids[fresh] not in {b["OriginatorConversationID"] for b in asked}
    q = next(b for b in asked if b["OriginatorConversationID"] == oids[paid])
    assert (q["CommandID"], q["Occasion"], q["PartyA"]) == (
        "TransactionStatusQuery", oids[paid], "600996")
    assert q["ResultURL"] == url(mpesa_server, "status")
    again = len(fake_daraja.status_queries())
    await reconcile_b2c_once(state)  # asked already: not again before the bound passes
    assert oids[paid] not in {r.body["OriginatorConversationID"]
                              for r in fake_daraja.status_queries()[again:]}
    receipt = "QREC" + uuid.uuid4().hex[:6].upper()
    for body in (b2c_status_result(oids[paid], "Completed", receipt=receipt),
                 b2c_status_result(oids[failed], "Failed"),
                 b2c_status_result(oids[unknown], "Pending"),
                 b2c_status_result(oids[unknown], "Completed", result_code=1)):
        assert (await deliver(url(mpesa_server, "status"), body)).status_code == 200
    settled = {w: await get_withdrawal(state, w) for w in (paid, failed, unknown)}
    assert {w: (x.state if x else None) for w, x in settled.items()} == {
        paid: "approved", failed: "failed", unknown: "pending"}
    assert await balance(ledger, paid_player) == (90_000, 90_000)
    assert await balance(ledger, failed_player) == (100_000, 100_000)
    assert await balance(ledger, unknown_player) == (70_000, 70_000)
    t = await ledger.get_transfer(transfer_id(paid, "payout"))
    assert t is not None and t.ext_ref == receipt
    wrong = await deliver(url(mpesa_server, "status", "nope"),
                          b2c_status_result(oids[unknown], "Completed", receipt="QX2"))
    assert wrong.status_code == 404
    assert await balance(ledger, unknown_player) == (70_000, 70_000)
