"""SIGKILL between a ledger commit and its alert's delivery: after restart, delivered once."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ledger import OutboxMessage, TransferRequest, transfer_id
from server.auth.users import get_or_create_user_by_phone
from server.channels.whatsapp.limits import record_inbound
from tests.fakes.graph_api import FakeGraphApi
from tests.support import ServerProcess, free_port
from tests.waiting import eventually
from tests.whatsapp.helpers import new_wa_id, wa_env

TIMEOUT_S = 60  # a subprocess's retry timer and outbox worker are involved


async def test_alert_survives_sigkill_and_is_delivered_exactly_once(
    test_services: Any, tmp_path: Path, fake: FakeGraphApi, pool: Any, ledger: Any
) -> None:
    user = await get_or_create_user_by_phone(pool, "+" + new_wa_id())
    await record_inbound(pool, user.id, user.phone_e164, datetime.now(UTC))
    env = test_services.env(tmp_path, **wa_env(fake.url, MATCHPOT_WHATSAPP_RETRY_BASE_S="2"))
    fake.default_action = "server_error"  # the Graph API is down for now

    first = ServerProcess(env, free_port())
    try:
        await first.wait_ready()
        cause = uuid.uuid4()
        alert = OutboxMessage(transfer_id(cause, "deposit_approved"), "whatsapp", user.id,
                              "deposit_approved", {"amount_minor": 25_000})
        await ledger.transfer(
            TransferRequest(transfer_id(cause, "credit"), "world", f"user:{user.id}", 25_000,
                            "KES", code="deposit"),
            outbox=[alert])
        key = str(alert.id)

        async def failed_once_and_waiting() -> bool:
            # The attempt failed and its retry is scheduled: no request is in flight and
            # the outbox row is not leased, only waiting for its retry time.
            row = await pool.fetchrow(
                "SELECT s.state, o.lease_until FROM wa_sends s JOIN outbox o"
                " ON o.id::text = s.key WHERE s.key = $1", key)
            return (row is not None and row["state"] == "retry" and row["lease_until"] is None
                    and any(r.key == key for r in fake.requests))

        await eventually(failed_once_and_waiting, timeout_s=TIMEOUT_S,
                         what="the first failed attempt")
        first.kill()  # SIGKILL: the alert is committed, not delivered
    finally:
        if first.proc.poll() is None:
            first.kill()
    assert await pool.fetchval("SELECT state FROM outbox WHERE id = $1", alert.id) == "pending"
    assert fake.accepted(key) == []

    fake.default_action = "ok"  # the API is back; a fresh process takes over
    second = ServerProcess(env, free_port())
    try:
        await second.wait_ready()

        async def outbox_sent() -> bool:
            return bool(await pool.fetchval(
                "SELECT state = 'sent' FROM outbox WHERE id = $1", alert.id))

        await eventually(outbox_sent, timeout_s=TIMEOUT_S,
                         what="the alert to be delivered after restart")
    finally:
        second.terminate()
    delivered = fake.accepted(key)
    assert len(delivered) == 1
    assert delivered[0].text == "Your deposit of 250 credits is in your wallet."
    assert await pool.fetchval("SELECT provider_ref FROM outbox WHERE id = $1",
                               alert.id) == delivered[0].wamid
    assert all(r.status == 500 for r in fake.requests if r.key == key and r.status != 200)
