"""Payments fixtures: a fake Daraja on 127.0.0.1 and a live server configured for M-Pesa."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
import pytest_asyncio

from server.auth.tokens import issue_access_token
from server.auth.users import get_or_create_user_by_phone
from server.config import Settings
from tests.fakes.daraja import FakeDaraja, Recorded
from tests.support import LiveServer, TestServices, run_server

CALLBACK_TOKEN = "cb-" + "s" * 30
SHORTCODE = "174379"
PASSKEY = "bfb279f9aa9bdbcf158e97dd71a467cd2e0c893059b10f78e6b72ada1ed2c919"


STATUS_QUERY_PATH = "/mpesa/transactionstatus/v1/query"


class FakeDarajaWithStatus(FakeDaraja):
    """The shared fake plus Transaction Status (asynchronous: it only acknowledges; the
    test delivers the result body from `b2c_status_result`, as Daraja would later)."""

    def post(self, rec: Recorded) -> tuple[int, dict[str, Any]]:
        if rec.path != STATUS_QUERY_PATH:
            return super().post(rec)
        auth = rec.headers.get("authorization", "")
        if not auth.startswith("Bearer ") or auth[7:] not in self._tokens:
            return 401, {"errorCode": "404.001.03", "errorMessage": "Invalid Access Token"}
        body = rec.body if isinstance(rec.body, dict) else {}
        return 200, {"OriginatorConversationID": f"status-{uuid.uuid4().hex[:8]}",
                     "ConversationID": "AG_2024_status", "ResponseCode": "0",
                     "ResponseDescription": "Accept the service request successfully.",
                     "Echo": body.get("Occasion")}

    def status_queries(self) -> list[Recorded]:
        return self.calls(STATUS_QUERY_PATH)


def b2c_status_result(
    payout_originator_id: str, status: str, *, receipt: str | None = None, result_code: int = 0,
) -> dict[str, Any]:
    """A Transaction Status result body: the payout is named in ResultParameters and
    echoed in ReferenceData (Occasion); the outer OriginatorConversationID is the query's."""
    params: list[dict[str, Any]] = [
        {"Key": "DebitPartyName", "Value": "600996 - Matchpot"},
        {"Key": "OriginatorConversationID", "Value": payout_originator_id},
        {"Key": "TransactionStatus", "Value": status},
        {"Key": "ReceiptNo", "Value": receipt or ""},
    ]
    return {"Result": {
        "ResultType": 0, "ResultCode": result_code,
        "ResultDesc": "The service request is processed successfully.",
        "OriginatorConversationID": f"status-{uuid.uuid4().hex[:8]}",
        "ConversationID": "AG_2024_status", "TransactionID": receipt or "OAK0000000",
        "ResultParameters": {"ResultParameter": params if result_code == 0 else []},
        "ReferenceData": {"ReferenceItem": {"Key": "Occasion", "Value": payout_originator_id}},
    }}


@pytest.fixture(scope="module")
def fake_daraja() -> Iterator[FakeDarajaWithStatus]:
    fake = FakeDarajaWithStatus()
    fake.start()
    yield fake
    fake.stop()


def mpesa_settings(settings: Settings, fake: FakeDaraja, **extra: Any) -> Settings:
    values: dict[str, Any] = dict(
        payments_provider="mpesa", payouts_enabled=True, mpesa_base_url=fake.url,
        mpesa_consumer_key=fake.consumer_key, mpesa_consumer_secret=fake.consumer_secret,
        mpesa_shortcode=SHORTCODE, mpesa_passkey=PASSKEY, mpesa_callback_token=CALLBACK_TOKEN,
        mpesa_b2c_initiator="testapi", mpesa_b2c_security_credential="c2VjcmV0",
        mpesa_b2c_shortcode="600996", mpesa_reconcile_after_s=60,
        mpesa_reconcile_interval_s=3600.0,  # the tests run reconciliation passes themselves
    )
    values.update(extra)
    return settings.model_copy(update=values)


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def mpesa_server(
    settings: Settings, test_services: TestServices, fake_daraja: FakeDaraja, pool: Any,
) -> AsyncIterator[LiveServer]:
    async with run_server(mpesa_settings(settings, fake_daraja),
                          test_services.services_for_run()) as live:
        base = live.state.settings.model_copy(update={"mpesa_callback_base_url": live.base_url})
        live.state.settings = base
        yield live


def new_phone() -> str:
    return "+2547" + "".join(secrets.choice("0123456789") for _ in range(8))


class Player:
    def __init__(self, user_id: str, phone: str, token: str) -> None:
        self.user_id = user_id
        self.phone = phone
        self.headers = {"Authorization": f"Bearer {token}"}
        self.owner = f"user:{user_id}"


async def new_player(pool: Any, secret: str) -> Player:
    phone = new_phone()
    user = await get_or_create_user_by_phone(pool, phone)
    return Player(user.id, phone, issue_access_token(secret, user.id, "player", 600))


async def admin_headers(pool: Any, secret: str, role: str) -> dict[str, str]:
    admin_id = await pool.fetchval(
        "INSERT INTO admins (username, password_hash, role) VALUES ($1, 'x', $2) RETURNING id",
        f"adm{uuid.uuid4().hex[:10]}", role)
    token = issue_access_token(secret, str(admin_id), "admin", 600, role=role)
    return {"Authorization": f"Bearer {token}"}
