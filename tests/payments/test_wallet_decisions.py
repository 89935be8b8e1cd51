"""Wallet decisions that involve payments: a rejected deposit's alert, withdrawal approval
under each provider, and deposits keyed by the message that asked for them."""

from __future__ import annotations

import uuid

import pytest

from ledger import Ledger, TransferRequest, transfer_id
from server.money.payments.service import PaymentError, start_deposit
from server.money.wallets.service import get_withdrawal, request_deposit, request_withdrawal
from tests.fakes.daraja import FakeDaraja, b2c_result, deliver
from tests.payments.conftest import CALLBACK_TOKEN, Player, admin_headers, new_player
from tests.support import LiveServer

pytestmark = pytest.mark.usefixtures("ledger")


async def funded(live: LiveServer, ledger: Ledger, amount_minor: int) -> Player:
    player = await new_player(live.state.pool, live.state.jwt_secret)
    await ledger.transfer(TransferRequest(uuid.uuid4(), "world", player.owner, amount_minor,
                                          "KES", code="deposit"))
    return player


async def test_rejected_deposit_writes_its_alert_once(server: LiveServer) -> None:
    state = server.state
    player = await new_player(state.pool, state.jwt_secret)
    dep, _ = await request_deposit(state, player.user_id, 30_000, "ref-" + uuid.uuid4().hex[:8])
    headers = await admin_headers(state.pool, state.jwt_secret, "finance")
    async with server.http() as client:
        for _ in range(2):  # deciding again the same way changes nothing
            r = await client.post(f"/admin/deposits/{dep.id}/reject", headers=headers,
                                  json={"reason": "No matching payment"})
            assert r.status_code == 200, r.text
            assert r.json()["state"] == "rejected"
    rows = await state.pool.fetch(
        "SELECT id, kind, payload FROM outbox WHERE recipient = $1", player.user_id)
    assert [r["kind"] for r in rows] == ["deposit_rejected"]
    assert rows[0]["id"] == transfer_id(dep.id, "deposit_rejected")
    payload = rows[0]["payload"]
    assert payload["amount_minor"] == 30_000 and payload["reason"] == "No matching payment"


async def test_manual_approval_pays_the_withdrawal_at_once(
    server: LiveServer, ledger: Ledger
) -> None:
    state = server.state
    assert state.settings.payments_provider == "manual"
    player = await funded(server, ledger, 100_000)
    w = await request_withdrawal(state, player.user_id, 40_000, None)
    headers = await admin_headers(state.pool, state.jwt_secret, "finance")
    async with server.http() as client:
        r = await client.post(f"/admin/withdrawals/{w.id}/approve", headers=headers)
    assert r.status_code == 200, r.text
    assert r.json()["state"] == "approved"
    bal = await ledger.balance(player.owner, "KES")
    assert (bal.posted_minor, bal.available_minor) == (60_000, 60_000)


async def test_mpesa_approval_starts_b2c_and_the_result_finishes_it(
    mpesa_server: LiveServer, fake_daraja: FakeDaraja, ledger: Ledger
) -> None:
    state = mpesa_server.state
    assert state.settings.payments_provider == "mpesa" and state.settings.payouts_enabled
    player = await funded(mpesa_server, ledger, 100_000)
    w = await request_withdrawal(state, player.user_id, 40_000, None)
    headers = await admin_headers(state.pool, state.jwt_secret, "finance")
    async with mpesa_server.http() as client:
        for _ in range(2):  # approving twice never pays twice
            r = await client.post(f"/admin/withdrawals/{w.id}/approve", headers=headers)
            assert r.status_code == 200, r.text
            assert (r.json()["state"], r.json()["payout"]) == ("pending", "mpesa")
    sent = [q for q in fake_daraja.b2c_requests() if q.body["PartyB"] == player.phone[1:]]
    assert len(sent) == 1 and sent[0].body["Amount"] == 400
    still = await get_withdrawal(state, w.id)
    assert still is not None and still.state == "pending"  # not paid until M-Pesa says so
    assert still.payout_account == "clearing:mpesa"  # off hold while the payout is in flight
    bal = await ledger.balance(player.owner, "KES")
    assert (bal.posted_minor, bal.available_minor) == (60_000, 60_000)
    async with mpesa_server.http() as client:  # the money is with M-Pesa: only it decides
        r = await client.post(f"/admin/withdrawals/{w.id}/reject", headers=headers,
                              json={"reason": "changed my mind"})
    assert (r.status_code, r.json()["code"]) == (409, "payout_in_flight")
    oid = str(transfer_id(uuid.UUID(w.id), "b2c"))
    url = f"{mpesa_server.base_url}/payments/mpesa/b2c/result/{CALLBACK_TOKEN}"
    ok = await deliver(url, b2c_result(oid, 0, receipt="QW" + uuid.uuid4().hex[:8].upper(),
                                       amount_kes=400))
    assert ok.status_code == 200
    done = await get_withdrawal(state, w.id)
    assert done is not None and done.state == "approved"
    bal = await ledger.balance(player.owner, "KES")
    assert (bal.posted_minor, bal.available_minor) == (60_000, 60_000)


async def test_manual_deposit_with_one_key_is_one_request(server: LiveServer) -> None:
    state = server.state
    player = await new_player(state.pool, state.jwt_secret)
    key = f"wamid.{uuid.uuid4().hex}"
    first = await start_deposit(state, player.user_id, 50_000, channel="whatsapp", idem_key=key)
    again = await start_deposit(state, player.user_id, 50_000, channel="whatsapp", idem_key=key)
    assert again.request_id == first.request_id
    other = await start_deposit(state, player.user_id, 50_000, channel="whatsapp",
                                idem_key=key + "x")
    assert other.request_id != first.request_id
    assert await state.pool.fetchval(
        "SELECT count(*) FROM deposit_requests WHERE user_id = $1::uuid", player.user_id) == 2


async def test_mpesa_deposit_with_one_key_pushes_once(
    mpesa_server: LiveServer, fake_daraja: FakeDaraja
) -> None:
    state = mpesa_server.state
    player = await new_player(state.pool, state.jwt_secret)
    key = f"wamid.{uuid.uuid4().hex}"
    first = await start_deposit(state, player.user_id, 50_000, channel="whatsapp", idem_key=key)
    again = await start_deposit(state, player.user_id, 50_000, channel="whatsapp", idem_key=key)
    assert (again.request_id, again.checkout_request_id) == \
        (first.request_id, first.checkout_request_id)
    pushes = [p for p in fake_daraja.stk_pushes() if p.body["PhoneNumber"] == player.phone[1:]]
    assert len(pushes) == 1
    with pytest.raises(PaymentError) as err:  # the same key for another amount is refused
        await start_deposit(state, player.user_id, 60_000, channel="whatsapp", idem_key=key)
    assert err.value.code == "idempotency_conflict"
    assert await state.pool.fetchval(
        "SELECT count(*) FROM mpesa_requests WHERE user_id = $1::uuid", player.user_id) == 1
