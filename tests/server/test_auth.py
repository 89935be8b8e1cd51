"""Player login over real HTTP: one-time codes, access tokens, rotating refresh tokens."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Iterator
from typing import Any

import httpx
import jwt
import pytest

from server.auth.tokens import issue_access_token
from tests.support import LiveServer

# Check the ledger's invariants after each test (the fixture must exist before teardown).
pytestmark = pytest.mark.usefixtures("ledger")


def random_phone() -> str:
    """A valid Kenyan mobile number nobody else in this run uses."""
    return "+25471" + "".join(random.choice("0123456789") for _ in range(7))


def sent_code(server: LiveServer, phone: str) -> str:
    """The code the development sender delivered to `phone`."""
    code = server.state.extras["otp_sender"].last_code(phone)
    assert code is not None, "no code was sent"
    return str(code)


async def login(client: httpx.AsyncClient, server: LiveServer, phone: str | None = None
                ) -> dict[str, Any]:
    """Log a player in through the real endpoints; returns the session body."""
    phone = phone or random_phone()
    r = await client.post("/auth/otp/request", json={"phone": phone})
    assert r.status_code == 202, r.text
    code = sent_code(server, phone)
    r = await client.post("/auth/otp/verify", json={"phone": phone, "code": code})
    assert r.status_code == 200, r.text
    return dict(r.json())


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def wrong_code(code: str) -> str:
    return f"{(int(code) + 1) % 1_000_000:06d}"


@pytest.fixture
def otp_clock(server: LiveServer) -> Iterator[list[float]]:
    """Drive the OTP service's clock by hand: set clock[0] to move time."""
    service = server.state.extras["otp_service"]
    original = service.clock
    now = [float(int(time.time()))]  # whole seconds: the database keeps microseconds
    service.clock = lambda: now[0]
    try:
        yield now
    finally:
        service.clock = original


async def test_login_with_a_local_number_creates_one_user(
    server: LiveServer, otp_clock: list[float]
) -> None:
    local = "071" + "".join(random.choice("0123456789") for _ in range(7))
    async with server.http() as client:
        r = await client.post("/auth/otp/request", json={"phone": local})
        assert r.status_code == 202, r.text
        phone = r.json()["phone"]
        assert phone == "+254" + local[1:]
        code = sent_code(server, phone)
        r = await client.post("/auth/otp/verify", json={"phone": local, "code": code})
        assert r.status_code == 200, r.text
        session = r.json()
        assert session["user"]["phone"] == phone
        assert session["expires_in"] == server.state.settings.jwt_access_ttl_s
        me = await client.get("/me", headers=bearer(session["access_token"]))
        assert me.status_code == 200
        assert me.json()["user"]["id"] == session["user"]["id"]
        otp_clock[0] += server.state.settings.otp_resend_interval_s
        again = await login(client, server, phone)
        assert again["user"]["id"] == session["user"]["id"]
        assert again["refresh_token"] != session["refresh_token"]


async def test_code_is_single_use(server: LiveServer) -> None:
    phone = random_phone()
    async with server.http() as client:
        await client.post("/auth/otp/request", json={"phone": phone})
        code = sent_code(server, phone)
        assert (await client.post("/auth/otp/verify", json={"phone": phone, "code": code})
                ).status_code == 200
        r = await client.post("/auth/otp/verify", json={"phone": phone, "code": code})
        assert r.status_code == 400
        assert r.json()["code"] == "otp_not_found"


async def test_bad_phone_and_bad_bodies_are_refused(server: LiveServer) -> None:
    async with server.http() as client:
        for phone in ["12", "+999123", "not a number", "0" * 40]:
            r = await client.post("/auth/otp/request", json={"phone": phone})
            assert r.status_code == 400, phone
            assert r.json()["code"] in ("phone_invalid", "invalid_request")
        r = await client.post("/auth/otp/request", json={"phone": "hello"})
        assert r.json()["code"] == "phone_invalid"
        r = await client.post("/auth/otp/request", json={"phone": 254712345678})
        assert (r.status_code, r.json()["code"]) == (400, "invalid_request")
        r = await client.post("/auth/otp/request", content=b"{not json")
        assert (r.status_code, r.json()["code"]) == (400, "invalid_request")
        r = await client.post("/auth/otp/request", json=["+254712345678"])
        assert (r.status_code, r.json()["code"]) == (400, "invalid_request")
        r = await client.post("/auth/otp/request", json={"phone": "+254712345678",
                                                         "pad": "x" * 70_000})
        assert (r.status_code, r.json()["code"]) == (413, "body_too_large")
        phone = random_phone()
        await client.post("/auth/otp/request", json={"phone": phone})
        for code in ["12345", "1234567", "abcdef", 123456]:
            r = await client.post("/auth/otp/verify", json={"phone": phone, "code": code})
            assert (r.status_code, r.json()["code"]) == (400, "invalid_request"), code
        # Malformed tries do not use up the real code.
        r = await client.post("/auth/otp/verify", json={"phone": phone,
                                                        "code": sent_code(server, phone)})
        assert r.status_code == 200


async def test_a_wrong_code_counts_a_try_and_the_right_one_still_works(server: LiveServer) -> None:
    phone = random_phone()
    async with server.http() as client:
        await client.post("/auth/otp/request", json={"phone": phone})
        code = sent_code(server, phone)
        r = await client.post("/auth/otp/verify", json={"phone": phone, "code": wrong_code(code)})
        assert r.status_code == 400
        assert r.json()["code"] == "otp_invalid"
        assert "4 tries left" in r.json()["msg"]
        r = await client.post("/auth/otp/verify", json={"phone": phone, "code": code})
        assert r.status_code == 200


async def test_five_wrong_tries_burn_the_code(server: LiveServer) -> None:
    phone = random_phone()
    async with server.http() as client:
        await client.post("/auth/otp/request", json={"phone": phone})
        code = sent_code(server, phone)
        codes = []
        for _ in range(5):
            r = await client.post("/auth/otp/verify",
                                  json={"phone": phone, "code": wrong_code(code)})
            codes.append(r.json()["code"])
        assert codes == ["otp_invalid"] * 4 + ["otp_attempts_exhausted"]
        r = await client.post("/auth/otp/verify", json={"phone": phone, "code": code})
        assert (r.status_code, r.json()["code"]) == (429, "otp_attempts_exhausted")
    users = await server.state.pool.fetchval("SELECT count(*) FROM users WHERE phone_e164 = $1",
                                             phone)
    assert users == 0


async def test_codes_expire(server: LiveServer, otp_clock: list[float]) -> None:
    phone = random_phone()
    ttl_s = server.state.settings.otp_ttl_s
    async with server.http() as client:
        await client.post("/auth/otp/request", json={"phone": phone})
        code = sent_code(server, phone)
        otp_clock[0] += ttl_s + 1
        r = await client.post("/auth/otp/verify", json={"phone": phone, "code": code})
        assert (r.status_code, r.json()["code"]) == (400, "otp_expired")
        # Just inside the validity window works.
        otp_clock[0] += server.state.settings.otp_resend_interval_s
        await client.post("/auth/otp/request", json={"phone": phone})
        otp_clock[0] += ttl_s - 1
        r = await client.post("/auth/otp/verify", json={"phone": phone,
                                                        "code": sent_code(server, phone)})
        assert r.status_code == 200


async def test_resends_are_rate_limited(server: LiveServer, otp_clock: list[float]) -> None:
    settings = server.state.settings
    phone = random_phone()
    async with server.http() as client:
        assert (await client.post("/auth/otp/request", json={"phone": phone})).status_code == 202
        first = sent_code(server, phone)
        r = await client.post("/auth/otp/request", json={"phone": phone})
        assert (r.status_code, r.json()["code"]) == (429, "otp_rate_limited")
        assert 1 <= int(r.headers["Retry-After"]) <= settings.otp_resend_interval_s
        assert sent_code(server, phone) == first  # nothing new was sent
        for _ in range(settings.otp_max_per_hour - 1):
            otp_clock[0] += settings.otp_resend_interval_s
            r = await client.post("/auth/otp/request", json={"phone": phone})
            assert r.status_code == 202
        otp_clock[0] += settings.otp_resend_interval_s
        r = await client.post("/auth/otp/request", json={"phone": phone})
        assert (r.status_code, r.json()["code"]) == (429, "otp_rate_limited")
        wait_s = int(r.headers["Retry-After"])
        assert settings.otp_resend_interval_s < wait_s <= 3600
        otp_clock[0] += wait_s
        r = await client.post("/auth/otp/request", json={"phone": phone})
        assert r.status_code == 202
        # Only the newest code logs in.
        latest = sent_code(server, phone)
        if latest != first:
            r = await client.post("/auth/otp/verify", json={"phone": phone, "code": first})
            assert r.json()["code"] == "otp_invalid"
        r = await client.post("/auth/otp/verify", json={"phone": phone, "code": latest})
        assert r.status_code == 200


async def test_parallel_requests_send_one_code(server: LiveServer) -> None:
    phone = random_phone()
    async with server.http() as client:
        results = await asyncio.gather(*[
            client.post("/auth/otp/request", json={"phone": phone}) for _ in range(5)
        ])
    assert sorted(r.status_code for r in results) == [202, 429, 429, 429, 429]


async def test_refresh_rotates_and_reuse_revokes_the_family(
    server: LiveServer, otp_clock: list[float]
) -> None:
    async with server.http() as client:
        session = await login(client, server)
        r = await client.post("/auth/refresh", json={"refresh_token": session["refresh_token"]})
        assert r.status_code == 200, r.text
        second = r.json()
        assert second["refresh_token"] != session["refresh_token"]
        assert second["user"]["id"] == session["user"]["id"]
        assert (await client.get("/me", headers=bearer(second["access_token"]))).status_code == 200
        # The first token again: someone copied it. The whole family ends.
        r = await client.post("/auth/refresh", json={"refresh_token": session["refresh_token"]})
        assert (r.status_code, r.json()["code"]) == (401, "refresh_reused")
        r = await client.post("/auth/refresh", json={"refresh_token": second["refresh_token"]})
        assert (r.status_code, r.json()["code"]) == (401, "refresh_revoked")
        # Another login of the same player is a different family and keeps working.
        otp_clock[0] += server.state.settings.otp_resend_interval_s
        other = await login(client, server, session["user"]["phone"])
        r = await client.post("/auth/refresh", json={"refresh_token": other["refresh_token"]})
        assert r.status_code == 200


async def test_logout_revokes_the_session(server: LiveServer) -> None:
    async with server.http() as client:
        session = await login(client, server)
        r = await client.post("/auth/refresh", json={"refresh_token": session["refresh_token"]})
        current = r.json()["refresh_token"]
        r = await client.post("/auth/logout", json={"refresh_token": current})
        assert r.status_code == 204
        r = await client.post("/auth/refresh", json={"refresh_token": current})
        assert (r.status_code, r.json()["code"]) == (401, "refresh_revoked")
        r = await client.post("/auth/refresh", json={"refresh_token": "x" * 43})
        assert (r.status_code, r.json()["code"]) == (401, "refresh_invalid")
        r = await client.post("/auth/logout", json={"refresh_token": "x" * 43})
        assert (r.status_code, r.json()["code"]) == (401, "refresh_invalid")


async def test_bad_access_tokens_get_clear_401s(server: LiveServer) -> None:
    secret = server.state.jwt_secret
    async with server.http() as client:
        session = await login(client, server)
        user_id = session["user"]["id"]
        r = await client.get("/me")
        assert (r.status_code, r.json()["code"]) == (401, "token_missing")
        r = await client.get("/me", headers={"Authorization": "Basic abc"})
        assert (r.status_code, r.json()["code"]) == (401, "token_invalid")
        r = await client.get("/me", headers=bearer("not.a.token"))
        assert (r.status_code, r.json()["code"]) == (401, "token_invalid")
        forged = issue_access_token("another-secret-" + "y" * 32, user_id, "player", 600)
        r = await client.get("/me", headers=bearer(forged))
        assert (r.status_code, r.json()["code"]) == (401, "token_invalid")
        unsigned = jwt.encode(
            {"sub": user_id, "kind": "player", "typ": "access", "iat": int(time.time()),
             "exp": int(time.time()) + 600, "iss": "matchpot"}, None, algorithm="none",
        )
        r = await client.get("/me", headers=bearer(unsigned))
        assert (r.status_code, r.json()["code"]) == (401, "token_invalid")
        expired = issue_access_token(secret, user_id, "player", 60, now_s=time.time() - 3600)
        r = await client.get("/me", headers=bearer(expired))
        assert (r.status_code, r.json()["code"]) == (401, "token_expired")
        admin_token = issue_access_token(secret, user_id, "admin", 600, role="superadmin")
        r = await client.get("/me", headers=bearer(admin_token))
        assert (r.status_code, r.json()["code"]) == (403, "forbidden")
