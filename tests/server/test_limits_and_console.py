"""Responsible play enforced by the server, suspension, and the console's admin routes."""

from __future__ import annotations

import uuid
from typing import Any

from matchpot_client.errors import MatchpotError
from matchpot_client.play import PlayClient

from ledger import WORLD, TransferRequest, transfer_id, user_account
from server.limits.service import Limit, _standing
from tests.server.test_admin import admin_session
from tests.server.test_auth import bearer, login
from tests.support import LiveServer


async def _fund(server: LiveServer, user_id: str, amount_minor: int) -> None:
    await server.state.ledger.transfer(TransferRequest(
        id=transfer_id("limits-test", user_id), debit=WORLD, credit=user_account(user_id),
        amount_minor=amount_minor, currency="KES", code="deposit"))


async def test_lowering_is_immediate_raising_waits_out_the_cooling_off(server: LiveServer) -> None:
    async with server.http() as http:
        s = await login(http, server)
        h = bearer(s["access_token"])
        r = await http.put("/me/limits", json={"daily_deposit_max_minor": 2_000}, headers=h)
        assert r.json()["daily_deposit"] == {"max_minor": 2_000, "pending": False,
                                             "pending_max_minor": None}
        r = await http.post("/wallet/deposits", json={"amount_minor": 3_000, "reference": "a"},
                            headers=h)
        assert r.status_code == 409 and r.json()["code"] == "deposit_limit_reached"
        assert r.json()["msg"] == ("Your own daily deposit limit is 20 credits; 20 credits left"
                                   " in the last 24 hours.")
        r = await http.put("/me/limits", json={"daily_deposit_max_minor": 50_000}, headers=h)
        body = r.json()
        assert body["daily_deposit"] == {"max_minor": 2_000, "pending": True,
                                         "pending_max_minor": 50_000}
        assert body["pending_at"] is not None
        r = await http.post("/wallet/deposits", json={"amount_minor": 3_000, "reference": "b"},
                            headers=h)
        assert r.status_code == 409, "the raise is not in force yet"
        # The cooling-off ends (moved into the past here): the raise applies.
        await server.state.pool.execute(
            "UPDATE play_limits SET pending_at = now() - interval '1 second' WHERE user_id = $1",
            uuid.UUID(s["user"]["id"]))
        r = await http.get("/me/limits", headers=h)
        assert r.json()["daily_deposit"]["max_minor"] == 50_000
        r = await http.post("/wallet/deposits", json={"amount_minor": 3_000, "reference": "c"},
                            headers=h)
        assert r.status_code == 201, r.text
        assert (await http.get("/me/limits", headers=h)).json()["used_deposit_minor"] == 3_000


def test_a_due_raise_counts_as_applied_and_removal_is_a_raise() -> None:
    from datetime import UTC, datetime, timedelta

    now = datetime(2026, 1, 1, tzinfo=UTC)
    row: dict[str, Any] = {
        "daily_deposit_max_minor": 1_000, "pending_deposit_max_minor": None,
        "pending_deposit_set": True, "daily_stake_max_minor": None,
        "pending_stake_max_minor": None, "pending_stake_set": False,
        "pending_at": now + timedelta(hours=1), "excluded_until": None,
    }
    waiting = _standing(row, None, now)  # type: ignore[arg-type]
    assert waiting.deposit == Limit(1_000, True, None)
    due = _standing(row, None, now + timedelta(hours=2))  # type: ignore[arg-type]
    assert due.deposit == Limit(None) and due.pending_at is None


async def test_self_exclusion_stops_stakes_and_deposits_and_never_shortens(
    server: LiveServer,
) -> None:
    async with server.http() as http:
        s = await login(http, server)
        h = bearer(s["access_token"])
        await _fund(server, s["user"]["id"], 50_000)
        r = await http.post("/me/self-exclusion", json={"days": 30}, headers=h)
        until = r.json()["excluded_until"]
        r = await http.post("/me/self-exclusion", json={"days": 1}, headers=h)
        assert r.json()["excluded_until"] == until, "a shorter choice does not shorten it"
        assert (await http.post("/me/self-exclusion", json={"days": 2}, headers=h)).status_code \
            == 400
        r = await http.post("/wallet/deposits", json={"amount_minor": 3_000, "reference": "x"},
                            headers=h)
        assert r.status_code == 403 and r.json()["code"] == "self_excluded"
    client = PlayClient(server.base_url, access_token=s["access_token"], reconnect=False)
    await client.connect()
    try:
        try:
            await client.request("queue_join", game="quiz", stake_minor=5_000)
            raise AssertionError("the stake was accepted")
        except MatchpotError as err:
            assert err.code == "self_excluded"
        balance = await server.state.ledger.balance(user_account(s["user"]["id"]), "KES")
        assert balance.available_minor == 50_000, "nothing held"
    finally:
        await client.close()


async def test_a_daily_stake_limit_counts_held_stakes_but_not_returned_ones(
    server: LiveServer,
) -> None:
    async with server.http() as http:
        s = await login(http, server)
        h = bearer(s["access_token"])
        await _fund(server, s["user"]["id"], 50_000)
        await http.put("/me/limits", json={"daily_stake_max_minor": 12_000}, headers=h)
    client = PlayClient(server.base_url, access_token=s["access_token"], reconnect=False)
    await client.connect()
    try:
        await client.request("queue_join", game="quiz", stake_minor=10_000)
        await client.request("queue_leave")  # returned: does not count
        await client.request("queue_join", game="quiz", stake_minor=10_000)
        mine = await client.request("my_rooms")
        assert mine["queued"]["stake_minor"] == 10_000 and mine["items"] == []
        await client.request("queue_leave")
    finally:
        await client.close()


async def test_suspension_ends_sessions_and_refuses_login(server: LiveServer) -> None:
    from server.auth.users import get_or_create_user_by_phone
    from tests.server.test_auth import random_phone, sent_code

    async with server.http() as http:
        s = await login(http, server)
        viewer = await admin_session(http, server, "viewer")
        operator = await admin_session(http, server, "operator")

        async def suspend(user_id: str, token: str) -> int:
            r = await http.post(f"/admin/players/{user_id}/suspend",
                                json={"reason": "Under review"}, headers=bearer(token))
            return r.status_code

        assert await suspend(s["user"]["id"], viewer["access_token"]) == 403
        assert await suspend(s["user"]["id"], operator["access_token"]) == 200
        assert (await http.get("/me", headers=bearer(s["access_token"]))).status_code == 401
        r = await http.post("/auth/refresh", json={"refresh_token": s["refresh_token"]})
        assert r.status_code == 401
        # A suspended player who logs in again is told why.
        phone = random_phone()
        other = await get_or_create_user_by_phone(server.state.pool, phone)
        assert await suspend(other.id, operator["access_token"]) == 200
        assert (await http.post("/auth/otp/request", json={"phone": phone})).status_code == 202
        r = await http.post("/auth/otp/verify", json={"phone": phone,
                                                       "code": sent_code(server, phone)})
        assert r.status_code == 403 and r.json() == {
            "code": "account_suspended", "msg": "Your account is suspended: Under review"}
        audit = (await http.get(f"/admin/audit?target=player:{s['user']['id']}",
                                headers=bearer(viewer["access_token"]))).json()["items"]
        assert audit[0]["action"] == "player.suspend"
        assert audit[0]["detail"]["reason"] == "Under review"
        # Every stake is vetted against this standing (a session opened before the
        # suspension cannot stake): the reason, and no limits of the player's own.
        from server.limits import service as limits
        async with server.state.pool.acquire() as conn:
            st = await limits.standing(conn, server.state, other.id)
        assert st.suspended_reason == "Under review"
        assert (st.stake.max_minor, st.deposit.max_minor, st.excluded_until) == (None, None, None)
        r = await http.post(f"/admin/players/{other.id}/unsuspend", json={"reason": "cleared"},
                            headers=bearer(operator["access_token"]))
        assert r.status_code == 200
        assert await server.state.pool.fetchval(
            "SELECT count(*) FROM player_suspensions WHERE user_id = $1",
            uuid.UUID(other.id)) == 0


async def test_console_dashboard_and_player_search(server: LiveServer) -> None:
    async with server.http() as http:
        s = await login(http, server)
        viewer = await admin_session(http, server, "viewer")
        h = bearer(viewer["access_token"])
        d = (await http.get("/admin/dashboard", headers=h)).json()
        assert d["ledger"]["ok"] is True
        assert {q["stake_minor"] for q in d["queues"]} == {5_000, 10_000, 50_000}
        assert "quiz" in d["rooms_by_game"] and isinstance(d["outbox"]["pending"], int)
        found = (await http.get(f"/admin/players?q={s['user']['phone'][-6:]}",
                                headers=h)).json()["items"]
        assert [p["id"] for p in found] == [s["user"]["id"]]
        profile = (await http.get(f"/admin/players/{s['user']['id']}", headers=h)).json()
        assert profile["user"]["display_name"] == s["user"]["display_name"]
        assert profile["sessions"][0]["active"] is True
        page = (await http.get(f"/admin/players/{s['user']['id']}/ledger", headers=h)).json()
        assert page == {"items": [], "next_before": None}
        r = await http.get("/admin/dashboard", headers=bearer(s["access_token"]))
        assert r.status_code == 403
