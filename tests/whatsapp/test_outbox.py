"""Alerts committed with a ledger change reach the user once, by the window's rules."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from ledger import OutboxMessage, TransferRequest, transfer_id
from server.auth.users import get_or_create_user_by_phone
from server.channels.whatsapp.limits import record_inbound
from tests.fakes.graph_api import FakeGraphApi
from tests.support import LiveServer
from tests.waiting import eventually
from tests.whatsapp.helpers import new_wa_id

TEMPLATE = "account_update"


@pytest.fixture(scope="module")
def wa_overrides() -> dict[str, Any]:
    return {"whatsapp_alert_templates": {"deposit_approved": TEMPLATE}}


async def _player(pool: Any, *, last_seen: timedelta | None) -> tuple[str, str]:
    user = await get_or_create_user_by_phone(pool, "+" + new_wa_id())
    if last_seen is not None:
        await record_inbound(pool, user.id, user.phone_e164, datetime.now(UTC) - last_seen)
    return user.id, user.phone_e164


async def _deposit_with_alert(ledger: Any, user_id: str, kind: str = "deposit_approved") -> str:
    """Commit a deposit and its alert in one transaction, as the wallet service does."""
    cause = uuid.uuid4()
    alert = OutboxMessage(transfer_id(cause, kind), "whatsapp", user_id, kind,
                          {"amount_minor": 50_000, "currency": "KES"})
    await ledger.transfer(TransferRequest(transfer_id(cause, "credit"), "world",
                                          f"user:{user_id}", 50_000, "KES", code="deposit"),
                          outbox=[alert])
    return str(alert.id)


async def _outbox_row(pool: Any, key: str, until: tuple[str, ...] = ("sent", "failed")) -> Any:
    async def reached() -> Any:
        row = await pool.fetchrow("SELECT * FROM outbox WHERE id = $1::uuid", key)
        return row if row is not None and row["state"] in until else None

    return await eventually(reached, what=f"outbox row {key} to reach {until}")


async def test_alert_inside_the_window_is_a_text_sent_once(
    wa_server: LiveServer, fake: FakeGraphApi, pool: Any, ledger: Any
) -> None:
    user_id, phone = await _player(pool, last_seen=timedelta(hours=1))
    key = await _deposit_with_alert(ledger, user_id)
    row = await _outbox_row(pool, key)
    (req,) = fake.to(phone)
    assert req.key == key and req.body["type"] == "text"
    assert req.text == "Your deposit of 500 credits is in your wallet."
    assert row["state"] == "sent" and row["provider_ref"] == req.wamid
    # The worker died after sending but before marking the row: the lease hands it out again.
    await pool.execute("UPDATE outbox SET state = 'pending', lease_until = NULL,"
                       " available_at = now() WHERE id = $1::uuid", key)
    await _outbox_row(pool, key)
    assert len(fake.to(phone)) == 1  # the key already had a wamid: not sent again


async def test_alert_outside_the_window_goes_as_the_configured_template(
    wa_server: LiveServer, fake: FakeGraphApi, pool: Any, ledger: Any
) -> None:
    user_id, phone = await _player(pool, last_seen=timedelta(hours=25))
    key = await _deposit_with_alert(ledger, user_id)
    await _outbox_row(pool, key)
    (req,) = fake.to(phone)
    assert req.body["type"] == "template" and req.body["template"]["name"] == TEMPLATE
    assert req.body["template"]["language"]["code"] == "en"
    assert req.text == "Your deposit of 500 credits is in your wallet."
    assert await pool.fetchval("SELECT as_template FROM wa_sends WHERE key = $1", key) == TEMPLATE


async def test_outside_the_window_without_a_template_nothing_is_sent(
    wa_server: LiveServer, fake: FakeGraphApi, pool: Any, ledger: Any
) -> None:
    user_id, phone = await _player(pool, last_seen=None)  # never wrote to us
    key = await _deposit_with_alert(ledger, user_id, kind="payout")
    row = await _outbox_row(pool, key)
    assert row["state"] == "failed" and row["last_error"] == "outside_window_no_template"
    assert await pool.fetchval("SELECT state FROM wa_sends WHERE key = $1", key) == "unsendable"
    assert fake.to(phone) == []


async def test_alerts_off_means_nothing_is_sent(
    wa_server: LiveServer, fake: FakeGraphApi, pool: Any, ledger: Any
) -> None:
    user_id, phone = await _player(pool, last_seen=timedelta(minutes=5))
    await pool.execute("UPDATE users SET alerts_enabled = false WHERE id = $1::uuid", user_id)
    key = await _deposit_with_alert(ledger, user_id)
    row = await _outbox_row(pool, key)
    assert row["provider_ref"] == "skipped:alerts_disabled"
    assert fake.to(phone) == []


async def test_a_failed_send_is_retried_from_the_outbox(
    wa_server: LiveServer, fake: FakeGraphApi, pool: Any, ledger: Any
) -> None:
    user_id, phone = await _player(pool, last_seen=timedelta(hours=2))
    fake.script("server_error", "throughput", to=phone)
    key = await _deposit_with_alert(ledger, user_id)
    row = await _outbox_row(pool, key, until=("sent",))
    assert [r.status for r in fake.to(phone)] == [500, 429, 200]
    assert row["attempts"] == 3
    assert len(fake.accepted(key)) == 1
