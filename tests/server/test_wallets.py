"""Wallets over real HTTP: balances, history, manual deposits and withdrawals."""

from __future__ import annotations

import asyncio
import secrets
from typing import Any

import httpx
import pytest

from tests.server.test_admin import admin_session
from tests.server.test_auth import bearer, login
from tests.support import LiveServer

pytestmark = pytest.mark.usefixtures("ledger")


class Actors:
    """A logged-in player and a finance admin sharing one HTTP client."""

    def __init__(self, client: httpx.AsyncClient, player: dict[str, Any],
                 finance: dict[str, Any]) -> None:
        self.client = client
        self.player = player
        self.finance = finance
        self.p = bearer(player["access_token"])
        self.f = bearer(finance["access_token"])

    @property
    def user_id(self) -> str:
        return str(self.player["user"]["id"])

    async def available(self) -> int:
        r = await self.client.get("/wallet", headers=self.p)
        assert r.status_code == 200, r.text
        (kes,) = [b for b in r.json()["balances"] if b["currency"] == "KES"]
        return int(kes["available_minor"])

    async def deposit(self, amount_minor: int) -> dict[str, Any]:
        r = await self.client.post("/wallet/deposits", headers=self.p, json={
            "amount_minor": amount_minor, "reference": "ref-" + secrets.token_hex(4)})
        assert r.status_code == 201, r.text
        return dict(r.json())

    async def funded(self, amount_minor: int) -> None:
        dep = await self.deposit(amount_minor)
        r = await self.client.post(f"/admin/deposits/{dep['id']}/approve", headers=self.f)
        assert r.status_code == 200, r.text


async def actors(client: httpx.AsyncClient, server: LiveServer) -> Actors:
    return Actors(client, await login(client, server), await admin_session(client, server,
                                                                          "finance"))


async def audit_actions(server: LiveServer, target: str) -> list[str]:
    rows = await server.state.pool.fetch(
        "SELECT action FROM audit_log WHERE target = $1 ORDER BY id", target
    )
    return [r["action"] for r in rows]


async def test_new_player_sees_an_empty_wallet(server: LiveServer) -> None:
    async with server.http() as client:
        a = await actors(client, server)
        me = (await client.get("/me", headers=a.p)).json()
        assert me["user"]["id"] == a.user_id
        assert me["balances"] == [{"currency": "KES", "posted_minor": 0, "held_minor": 0,
                                   "available_minor": 0}]
        wallet = (await client.get("/wallet", headers=a.p)).json()
        assert wallet["history"] == []
        assert wallet["next_before"] is None


async def test_deposit_is_credited_exactly_once(server: LiveServer) -> None:
    async with server.http() as client:
        a = await actors(client, server)
        dep = await a.deposit(25_000)
        assert dep["state"] == "pending"
        assert await a.available() == 0
        pending = await client.get("/admin/deposits?state=pending&limit=200", headers=a.f)
        assert dep["id"] in [d["id"] for d in pending.json()["items"]]
        first = await client.post(f"/admin/deposits/{dep['id']}/approve", headers=a.f)
        assert first.status_code == 200
        assert first.json()["state"] == "approved"
        assert first.json()["decided_by"] == a.finance["admin"]["id"]
        again = await client.post(f"/admin/deposits/{dep['id']}/approve", headers=a.f)
        assert again.json() == first.json()
        assert await a.available() == 25_000
        assert await audit_actions(server, f"deposit:{dep['id']}") == ["deposit.approve"]
        alerts = await server.state.pool.fetch(
            "SELECT channel, kind, payload FROM outbox WHERE recipient = $1", a.user_id
        )
        assert [(r["channel"], r["kind"]) for r in alerts] == [("whatsapp", "deposit_approved")]
        assert alerts[0]["payload"]["amount_minor"] == 25_000
        history = (await client.get("/wallet", headers=a.p)).json()["history"]
        assert [(h["code"], h["amount_minor"], h["direction"]) for h in history] == [
            ("deposit", 25_000, "in")]
        r = await client.post(f"/admin/deposits/{dep['id']}/reject", headers=a.f,
                              json={"reason": "changed my mind"})
        assert (r.status_code, r.json()["code"]) == (409, "already_decided")
        assert await a.available() == 25_000


async def test_concurrent_approvals_credit_once(server: LiveServer) -> None:
    async with server.http() as client:
        a = await actors(client, server)
        other = await admin_session(client, server, "superadmin")
        dep = await a.deposit(40_000)
        results = await asyncio.gather(*[
            client.post(f"/admin/deposits/{dep['id']}/approve",
                        headers=a.f if i % 2 else bearer(other["access_token"]))
            for i in range(6)
        ])
        assert {r.status_code for r in results} == {200}
        assert len({r.json()["decided_at"] for r in results}) == 1
        assert await a.available() == 40_000
        assert await audit_actions(server, f"deposit:{dep['id']}") == ["deposit.approve"]


async def test_rejected_deposit_moves_no_money(server: LiveServer) -> None:
    async with server.http() as client:
        a = await actors(client, server)
        dep = await a.deposit(30_000)
        r = await client.post(f"/admin/deposits/{dep['id']}/reject", headers=a.f, json={})
        assert (r.status_code, r.json()["code"]) == (400, "invalid_request")
        r = await client.post(f"/admin/deposits/{dep['id']}/reject", headers=a.f,
                              json={"reason": "no payment with this reference"})
        assert r.status_code == 200
        assert (r.json()["state"], r.json()["reason"]) == (
            "rejected", "no payment with this reference")
        r = await client.post(f"/admin/deposits/{dep['id']}/approve", headers=a.f)
        assert (r.status_code, r.json()["code"]) == (409, "already_decided")
        assert await a.available() == 0
        assert await audit_actions(server, f"deposit:{dep['id']}") == ["deposit.reject"]
        kinds = await server.state.pool.fetch(
            "SELECT kind FROM outbox WHERE recipient = $1", a.user_id)
        assert [k["kind"] for k in kinds] == ["deposit_rejected"]
        mine = (await client.get(f"/wallet/deposits/{dep['id']}", headers=a.p)).json()
        assert mine["state"] == "rejected"


async def test_deposit_requests_are_validated(server: LiveServer) -> None:
    settings = server.state.settings
    async with server.http() as client:
        a = await actors(client, server)
        cases = [
            ({"amount_minor": settings.deposit_min_minor - 1, "reference": "r1"},
             400, "amount_below_minimum"),
            ({"amount_minor": settings.deposit_max_minor + 1, "reference": "r1"},
             400, "amount_above_maximum"),
            ({"amount_minor": "10000", "reference": "r1"}, 400, "invalid_request"),
            ({"amount_minor": 10000.5, "reference": "r1"}, 400, "invalid_request"),
            ({"amount_minor": True, "reference": "r1"}, 400, "invalid_request"),
            ({"amount_minor": -10_000, "reference": "r1"}, 400, "invalid_request"),
            ({"amount_minor": 10_000}, 400, "invalid_request"),
            ({"amount_minor": 10_000, "reference": ""}, 400, "invalid_request"),
            ({"amount_minor": 10_000, "reference": "r" * 65}, 400, "invalid_request"),
            ({"amount_minor": 10_000, "reference": "r1", "extra": 1}, 400, "invalid_request"),
        ]
        for body, status, code in cases:
            r = await client.post("/wallet/deposits", headers=a.p, json=body)
            assert (r.status_code, r.json()["code"]) == (status, code), body
            assert "minor" not in r.json()["msg"] or code == "invalid_request", r.json()["msg"]
        too_small = {"amount_minor": settings.deposit_min_minor - 1, "reference": "r"}
        r = await client.post("/wallet/deposits", headers=a.p, json=too_small)
        assert r.json()["msg"] == "The minimum is 10 credits."  # the product's words
        r = await client.post("/wallet/deposits", headers=a.p,
                              content=b'{"amount_minor": 10000, "reference": "' + b"x" * 70_000
                              + b'"}')
        assert (r.status_code, r.json()["code"]) == (413, "body_too_large")
        # A number too long for any amount, and nesting deeper than a parser should follow.
        for raw in (b'{"amount_minor": ' + b"9" * 5_000 + b', "reference": "r1"}',
                    b'{"amount_minor": ' + b"[" * 20_000 + b"]" * 20_000 + b"}"):
            r = await client.post("/wallet/deposits", headers=a.p, content=raw)
            assert (r.status_code, r.json()["code"]) == (400, "invalid_request")
        assert (await client.get("/wallet/deposits", headers=a.p)).json()["items"] == []
        # The same reference again is the same request; with another amount it is refused.
        first = await client.post("/wallet/deposits", headers=a.p,
                                  json={"amount_minor": 10_000, "reference": "QX12"})
        again = await client.post("/wallet/deposits", headers=a.p,
                                  json={"amount_minor": 10_000, "reference": "QX12"})
        assert (first.status_code, again.status_code) == (201, 200)
        assert first.json()["id"] == again.json()["id"]
        r = await client.post("/wallet/deposits", headers=a.p,
                              json={"amount_minor": 20_000, "reference": "QX12"})
        assert (r.status_code, r.json()["code"]) == (409, "duplicate_reference")
        for i in range(4):
            await a.deposit(10_000 + i)
        r = await client.post("/wallet/deposits", headers=a.p,
                              json={"amount_minor": 10_000, "reference": "one-too-many"})
        assert (r.status_code, r.json()["code"]) == (409, "too_many_pending_deposits")


async def test_withdrawal_holds_at_once_and_approval_pays_out(server: LiveServer) -> None:
    async with server.http() as client:
        a = await actors(client, server)
        await a.funded(100_000)
        r = await client.post("/wallet/withdrawals", headers=a.p,
                              json={"amount_minor": 60_000, "destination": "0712000111"})
        assert r.status_code == 201, r.text
        w = r.json()
        assert w["state"] == "pending"
        wallet = (await client.get("/wallet", headers=a.p)).json()
        kes = wallet["balances"][0]
        assert (kes["posted_minor"], kes["held_minor"], kes["available_minor"]) == (
            100_000, 60_000, 40_000)
        # Spending twice is impossible: the held amount is gone from what is available.
        r = await client.post("/wallet/withdrawals", headers=a.p, json={"amount_minor": 50_000})
        assert (r.status_code, r.json()["code"]) == (409, "insufficient_funds")
        mine = (await client.get("/wallet/withdrawals", headers=a.p)).json()["items"]
        assert [m["id"] for m in mine] == [w["id"]]
        first = await client.post(f"/admin/withdrawals/{w['id']}/approve", headers=a.f)
        assert first.status_code == 200, first.text
        assert first.json()["state"] == "approved"
        again = await client.post(f"/admin/withdrawals/{w['id']}/approve", headers=a.f)
        assert again.json() == first.json()
        r = await client.post(f"/admin/withdrawals/{w['id']}/reject", headers=a.f,
                              json={"reason": "late"})
        assert (r.status_code, r.json()["code"]) == (409, "already_decided")
        kes = (await client.get("/wallet", headers=a.p)).json()["balances"][0]
        assert (kes["posted_minor"], kes["held_minor"], kes["available_minor"]) == (
            40_000, 0, 40_000)
        assert await audit_actions(server, f"withdrawal:{w['id']}") == ["withdrawal.approved"]
        kinds = [r["kind"] for r in await server.state.pool.fetch(
            "SELECT kind FROM outbox WHERE recipient = $1 ORDER BY created_at", a.user_id)]
        assert "withdrawal_approved" in kinds


async def test_rejected_withdrawal_releases_the_hold(server: LiveServer) -> None:
    async with server.http() as client:
        a = await actors(client, server)
        await a.funded(100_000)
        w = (await client.post("/wallet/withdrawals", headers=a.p,
                               json={"amount_minor": 70_000})).json()
        assert await a.available() == 30_000
        results = await asyncio.gather(*[
            client.post(f"/admin/withdrawals/{w['id']}/reject", headers=a.f,
                        json={"reason": "name does not match"}) for _ in range(3)
        ])
        assert {r.status_code for r in results} == {200}
        assert {r.json()["state"] for r in results} == {"rejected"}
        assert await a.available() == 100_000
        r = await client.post(f"/admin/withdrawals/{w['id']}/approve", headers=a.f)
        assert (r.status_code, r.json()["code"]) == (409, "already_decided")
        assert await a.available() == 100_000
        assert await audit_actions(server, f"withdrawal:{w['id']}") == ["withdrawal.rejected"]


async def test_parallel_withdrawals_never_overspend(server: LiveServer) -> None:
    async with server.http() as client:
        a = await actors(client, server)
        await a.funded(100_000)
        results = await asyncio.gather(*[
            client.post("/wallet/withdrawals", headers=a.p, json={"amount_minor": 30_000})
            for _ in range(5)
        ])
        codes = sorted(r.status_code for r in results)
        assert codes == [201, 201, 201, 409, 409]
        assert await a.available() == 10_000
        mine = (await client.get("/wallet/withdrawals", headers=a.p)).json()["items"]
        assert len(mine) == 3


async def test_withdrawal_limits(server: LiveServer) -> None:
    settings = server.state.settings
    async with server.http() as client:
        a = await actors(client, server)
        r = await client.post("/wallet/withdrawals", headers=a.p,
                              json={"amount_minor": settings.withdraw_min_minor - 1})
        assert (r.status_code, r.json()["code"]) == (400, "amount_below_minimum")
        r = await client.post("/wallet/withdrawals", headers=a.p,
                              json={"amount_minor": settings.withdraw_max_minor + 1})
        assert (r.status_code, r.json()["code"]) == (400, "amount_above_maximum")
        r = await client.post("/wallet/withdrawals", headers=a.p, json={"amount_minor": 0})
        assert (r.status_code, r.json()["code"]) == (400, "invalid_request")
        r = await client.post("/wallet/withdrawals", headers=a.p,
                              json={"amount_minor": settings.withdraw_min_minor})
        assert (r.status_code, r.json()["code"]) == (409, "insufficient_funds")
        # Fund enough to pass the daily limit and take it to the edge.
        daily = settings.withdraw_daily_max_minor
        big = settings.withdraw_max_minor
        needed = daily + settings.withdraw_min_minor
        while needed > 0:
            step = min(needed, settings.deposit_max_minor)
            await a.funded(step)
            needed -= step
        taken = 0
        while taken < daily:
            step = min(big, daily - taken)
            r = await client.post("/wallet/withdrawals", headers=a.p, json={"amount_minor": step})
            assert r.status_code == 201, r.text
            taken += step
        r = await client.post("/wallet/withdrawals", headers=a.p,
                              json={"amount_minor": settings.withdraw_min_minor})
        assert (r.status_code, r.json()["code"]) == (409, "daily_limit_exceeded")
        assert await a.available() == settings.withdraw_min_minor
        assert len((await client.get("/wallet/withdrawals", headers=a.p)).json()["items"]) == (
            -(-daily // big))


async def test_players_cannot_see_or_decide_others_requests(server: LiveServer) -> None:
    async with server.http() as client:
        a = await actors(client, server)
        b = await login(client, server)
        await a.funded(50_000)
        dep = await a.deposit(10_000)
        w = (await client.post("/wallet/withdrawals", headers=a.p,
                               json={"amount_minor": 20_000})).json()
        hb = bearer(b["access_token"])
        r = await client.get(f"/wallet/withdrawals/{w['id']}", headers=hb)
        assert (r.status_code, r.json()["code"]) == (404, "withdrawal_not_found")
        r = await client.get(f"/wallet/deposits/{dep['id']}", headers=hb)
        assert (r.status_code, r.json()["code"]) == (404, "deposit_not_found")
        r = await client.get("/wallet/withdrawals/not-a-uuid", headers=hb)
        assert r.status_code == 404
        assert (await client.get(f"/wallet/withdrawals/{w['id']}", headers=a.p)).status_code == 200
        for path in (f"/admin/deposits/{dep['id']}/approve",
                     f"/admin/withdrawals/{w['id']}/approve"):
            for headers in (a.p, hb):
                r = await client.post(path, headers=headers)
                assert (r.status_code, r.json()["code"]) == (403, "forbidden")
        assert (await client.get("/wallet/deposits", headers=hb)).json()["items"] == []
        assert await a.available() == 30_000


async def test_history_pages_with_a_cursor(server: LiveServer) -> None:
    async with server.http() as client:
        a = await actors(client, server)
        for amount in (10_000, 20_000, 30_000):
            await a.funded(amount)
        seen: list[int] = []
        before: int | None = None
        for _ in range(5):
            params: dict[str, Any] = {"limit": 2, "currency": "KES"}
            if before is not None:
                params["before"] = before
            page = (await client.get("/wallet", headers=a.p, params=params)).json()
            seen += [h["amount_minor"] for h in page["history"]]
            before = page["next_before"]
            if before is None:
                break
        assert seen == [30_000, 20_000, 10_000]
        for bad in ({"limit": 0}, {"limit": 101}, {"before": "abc"}, {"currency": "K$S"}):
            r = await client.get("/wallet", headers=a.p, params=bad)
            assert (r.status_code, r.json()["code"]) == (400, "invalid_request"), bad


async def test_withdrawal_idempotency_key_holds_once(server: LiveServer) -> None:
    """A retried request (same Idempotency-Key) returns the first one and holds once."""
    async with server.http() as client:
        a = await actors(client, server)
        await a.funded(100_000)
        headers = {**a.p, "Idempotency-Key": "tap-" + secrets.token_hex(6)}
        body = {"amount_minor": 30_000}
        results = await asyncio.gather(*(
            client.post("/wallet/withdrawals", headers=headers, json=body) for _ in range(5)
        ))
        assert sorted(r.status_code for r in results) == [200, 200, 200, 200, 201]
        assert len({r.json()["id"] for r in results}) == 1
        assert await a.available() == 70_000
        other = await client.post("/wallet/withdrawals", headers=headers,
                                  json={"amount_minor": 40_000})
        assert other.status_code == 409 and other.json()["code"] == "idempotency_conflict"
        assert await a.available() == 70_000
        listed = await client.get("/wallet/withdrawals", headers=a.p)
        assert len(listed.json()["items"]) == 1
