"""`POST /payments/deposits` as docs/api.md documents it, and the M-Pesa callback-base check."""

from __future__ import annotations

from collections.abc import Coroutine
from typing import Any, cast

import pytest
from structlog.testing import capture_logs

from server.config import Settings
from server.money.payments import http as payments_http
from tests.fakes.daraja import FakeDaraja
from tests.payments.conftest import new_player
from tests.support import LiveServer

pytestmark = pytest.mark.usefixtures("ledger")

REPLY_KEYS = {"text", "provider", "request_id", "amount_minor", "state", "checkout_request_id"}


async def deposit(live: LiveServer, amount_minor: int) -> Any:
    player = await new_player(live.state.pool, live.state.jwt_secret)
    async with live.http() as client:
        return await client.post("/payments/deposits", json={"amount_minor": amount_minor},
                                 headers=player.headers)


async def test_mpesa_deposit_reply_body(mpesa_server: LiveServer, fake_daraja: FakeDaraja) -> None:
    r = await deposit(mpesa_server, 10_000)
    assert r.status_code == 201, r.text
    body = r.json()
    assert set(body) == REPLY_KEYS
    assert (body["provider"], body["state"], body["amount_minor"]) == ("mpesa", "pending", 10_000)
    assert body["checkout_request_id"].startswith("ws_CO_") and body["request_id"]


async def test_manual_deposit_reply_body_and_range_code(server: LiveServer) -> None:
    r = await deposit(server, 20_000)
    assert r.status_code == 201, r.text
    body = r.json()
    assert set(body) == REPLY_KEYS
    assert (body["provider"], body["state"], body["checkout_request_id"]) == (
        "manual", "pending", None)
    low = await deposit(server, server.state.settings.deposit_min_minor - 1)
    assert (low.status_code, low.json()["code"]) == (400, "amount_out_of_range")


@pytest.mark.parametrize(("base", "public_url", "problem"), [
    ("http://127.0.0.1:8000", None, "not https"),
    ("", "http://pay.example.com", "not https"),
    ("https://127.0.0.1", None, "IP address"),
    ("https://[::1]:8443", None, "IP address"),
    ("https://localhost:8443", None, "not a public host"),
    ("https://pay.example.com", None, None),
    ("", "https://pay.example.com", None),
])
def test_callback_base_problem(
    settings: Settings, base: str, public_url: str | None, problem: str | None
) -> None:
    s = settings.model_copy(update={"mpesa_callback_base_url": base, "public_url": public_url})
    found = payments_http.callback_base_problem(s)
    assert (found is None) if problem is None else (found is not None and problem in found)


class _StartupState:
    """Just what payments' startup reads: settings, and spawn (the job is not run)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.spawned: list[str] = []

    def spawn(self, job: Coroutine[Any, Any, None], name: str) -> None:
        job.close()
        self.spawned.append(name)


@pytest.mark.parametrize(("provider", "base", "warned"), [
    ("mpesa", "http://127.0.0.1:8000", True),
    ("mpesa", "https://pay.example.com", False),
    ("manual", "http://127.0.0.1:8000", False),
])
async def test_startup_warns_about_a_callback_base_daraja_cannot_reach(
    settings: Settings, provider: str, base: str, warned: bool
) -> None:
    state = _StartupState(settings.model_copy(update={
        "payments_provider": provider, "mpesa_callback_base_url": base}))
    with capture_logs() as logs:
        await payments_http.startup(cast(Any, state))
    warnings = [e for e in logs if e["event"] == "mpesa_callback_base_unreachable"]
    assert bool(warnings) == warned
    if warned:
        assert warnings[0]["log_level"] == "warning" and base in warnings[0]["problem"]
