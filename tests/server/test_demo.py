"""Demo seeding: a finance admin `demo` approves small deposit requests after a delay."""

from __future__ import annotations

import random
import re
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from server.admin.accounts import ensure_admin
from server.features import demo
from tests import support
from tests.server.test_auth import bearer, login
from tests.support import LiveServer
from tests.waiting import eventually

pytestmark = pytest.mark.usefixtures("ledger")


async def test_demo_admin_is_created_once(server: LiveServer) -> None:
    pool = server.state.pool
    first = await ensure_admin(pool, demo.DEMO_ADMIN, demo.DEMO_ADMIN_PASSWORD,
                               demo.DEMO_ADMIN_ROLE)
    second = await ensure_admin(pool, demo.DEMO_ADMIN, demo.DEMO_ADMIN_PASSWORD,
                                demo.DEMO_ADMIN_ROLE)
    assert first == second
    async with server.http() as client:
        r = await client.post("/admin/login", json={"username": demo.DEMO_ADMIN,
                                                     "password": demo.DEMO_ADMIN_PASSWORD})
        assert r.status_code == 200
        assert r.json()["admin"]["role"] == "finance"


async def test_small_deposits_are_approved_by_the_demo_admin_after_the_delay(
    server: LiveServer,
) -> None:
    state = server.state
    admin_id = await ensure_admin(state.pool, demo.DEMO_ADMIN, demo.DEMO_ADMIN_PASSWORD,
                                  demo.DEMO_ADMIN_ROLE)
    async with server.http() as client:
        player = await login(client, server)
        headers = bearer(player["access_token"])
        small = (await client.post("/wallet/deposits", headers=headers, json={
            "amount_minor": demo.AUTO_APPROVE_MAX_MINOR, "reference": "demo-small"})).json()
        large = (await client.post("/wallet/deposits", headers=headers, json={
            "amount_minor": demo.AUTO_APPROVE_MAX_MINOR + 1, "reference": "demo-large"})).json()

        # Before the delay nothing happens.
        await demo.approve_due(state, admin_id, now=datetime.now(UTC))
        mine = await client.get(f"/wallet/deposits/{small['id']}", headers=headers)
        assert mine.json()["state"] == "pending"

        later = datetime.now(UTC) + timedelta(seconds=demo.AUTO_APPROVE_DELAY_S + 1)
        for _ in range(50):  # other tests may have left small requests pending before ours
            if await demo.approve_due(state, admin_id, now=later) == 0:
                break
        small_now = (await client.get(f"/wallet/deposits/{small['id']}", headers=headers)).json()
        large_now = (await client.get(f"/wallet/deposits/{large['id']}", headers=headers)).json()
        assert (small_now["state"], small_now["decided_by"]) == ("approved", admin_id)
        assert large_now["state"] == "pending"
        me = (await client.get("/me", headers=headers)).json()
        assert me["balances"][0]["available_minor"] == demo.AUTO_APPROVE_MAX_MINOR
    row = await state.pool.fetchrow(
        "SELECT admin_id, action FROM audit_log WHERE target = $1", f"deposit:{small['id']}"
    )
    assert (str(row["admin_id"]), row["action"]) == (admin_id, "deposit.approve")


class LogLines:
    """Reads a subprocess's stderr on a thread (so the pipe never fills) into a bounded list."""

    MAX_LINES = 5000

    def __init__(self, stream: Any) -> None:
        self.lines: list[str] = []
        self._thread = threading.Thread(target=self._pump, args=(stream,), daemon=True)
        self._thread.start()

    def _pump(self, stream: Any) -> None:
        for raw in iter(stream.readline, b""):
            if len(self.lines) < self.MAX_LINES:
                self.lines.append(raw.decode(errors="replace"))

    async def wait_for(self, pattern: str, timeout_s: float = 30) -> re.Match[str]:
        regex = re.compile(pattern)

        def first_match() -> re.Match[str] | None:
            return next((m for line in list(self.lines) if (m := regex.search(line))), None)

        try:
            return await eventually(first_match, timeout_s=timeout_s,
                                    what=f"a log line matching {pattern!r}")
        except AssertionError as exc:
            raise AssertionError(f"{exc}; last lines: {self.lines[-5:]}") from None


async def test_newcomer_flow_on_a_demo_server(
    server: LiveServer, test_services: support.TestServices, tmp_path: Any
) -> None:
    """`matchpot serve` in demo mode: log in with the code from the log, ask for a deposit,
    and see it approved by the demo admin."""
    port = support.free_port()
    env = test_services.env(tmp_path, MATCHPOT_DEMO="1", MATCHPOT_LOG_LEVEL="INFO",
                            MATCHPOT_LOG_FORMAT="json")
    proc = support.ServerProcess(env, port)
    try:
        logs = LogLines(proc.proc.stderr)
        await proc.wait_ready()
        await logs.wait_for("demo mode: next steps")
        phone = "+25471" + "".join(random.choice("0123456789") for _ in range(7))
        async with httpx.AsyncClient(base_url=proc.base_url, timeout=10) as client:
            r = await client.post("/auth/otp/request", json={"phone": phone})
            assert r.status_code == 202
            masked = re.escape(phone[:5]) + r"\*+" + re.escape(phone[-3:])
            code = (await logs.wait_for(f"login code for {masked}: ([0-9]{{6}})")).group(1)
            assert not any(phone in line for line in logs.lines), "the number must be masked"
            r = await client.post("/auth/otp/verify", json={"phone": phone, "code": code})
            assert r.status_code == 200
            headers = bearer(r.json()["access_token"])
            r = await client.post("/wallet/deposits", headers=headers,
                                  json={"amount_minor": 50_000, "reference": "first-demo"})
            assert r.status_code == 201
            deposit_id = r.json()["id"]
            await logs.wait_for(f"(?=.*demo deposit approved by the demo admin)(?=.*{deposit_id})")
            me = (await client.get("/me", headers=headers)).json()
            assert me["balances"][0]["available_minor"] == 50_000
    finally:
        proc.terminate()
