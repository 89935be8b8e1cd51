"""Liveness, readiness, metrics, and masked phone numbers in logs."""

from __future__ import annotations

from typing import Any

import pytest

from server.logs import _mask_phones, mask_phone
from tests.support import LiveServer

pytestmark = pytest.mark.usefixtures("ledger")


async def test_health_ready_and_metrics(server: LiveServer) -> None:
    async with server.http() as http:
        live = await http.get("/healthz")
        assert live.status_code == 200 and live.json()["status"] == "ok"
        ready = await http.get("/readyz")
        assert ready.status_code == 200
        assert ready.json() == {"ready": True, "checks": {"postgres": "ok", "redis": "ok"}}
        assert ready.headers["x-request-id"]
        metrics = await http.get("/metrics")
        assert metrics.status_code == 200
        for name in ("matchpot_ws_connections", "matchpot_ledger_transfers_total",
                     "matchpot_errors_total", "matchpot_http_requests_total"):
            assert name in metrics.text


async def test_a_draining_node_is_not_ready(server: LiveServer) -> None:
    state: Any = server.state
    state.draining = True
    try:
        async with server.http() as http:
            ready = await http.get("/readyz")
        assert ready.status_code == 503 and ready.json()["checks"]["node"] == "draining"
    finally:
        state.draining = False


def test_phone_numbers_are_masked_in_log_lines() -> None:
    assert mask_phone("+254712345678") == "+2547*****678"
    event = _mask_phones(None, "info", {"event": "login", "phone": "+254712345678",
                                        "msg": "code sent to 254798765432 now"})
    assert event["phone"] == "+2547*****678"
    assert "254798765432" not in event["msg"] and event["msg"].endswith("432 now")
    # Ids that happen to hold a run of digits are left alone.
    ids = {"event": "x", "deposit_id": "489e116d-0113-40ad-b150-650550120d0c",
           "ref": "abc123456789012"}
    assert _mask_phones(None, "info", dict(ids)) == ids
