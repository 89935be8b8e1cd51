"""Auth hardening over real sockets: login limits counted before hashing, sessions that end
on logout (HTTP, open sockets, other nodes), token expiry on open sockets, disabled admins
on /admin/ws, clean 401s for players that do not exist, per-IP code limits."""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.client import connect

from server.admin.accounts import create_admin
from server.auth.tokens import issue_access_token
from tests import support
from tests.server.gateway_helpers import closed_with, open_ws, pack, recv, recv_type
from tests.server.test_admin import PASSWORD, new_username
from tests.server.test_auth import bearer, login, random_phone
from tests.support import LiveServer, run_server

pytestmark = pytest.mark.usefixtures("ledger")


def from_ip(ip: str, headers: dict[str, str] | None = None) -> dict[str, str]:
    """Speak for client address `ip`: the test server trusts X-Forwarded-For from
    127.0.0.1 (uvicorn's default, as for a proxy on the same host)."""
    return {"X-Forwarded-For": ip, **(headers or {})}


@contextlib.contextmanager
def tuned(server: LiveServer, **values: Any) -> Iterator[None]:
    """Run with some settings changed on the live server (handlers read them per request)."""
    state = server.state
    original = state.settings
    state.settings = original.model_copy(update=values)
    try:
        yield
    finally:
        state.settings = original


async def _fresh_ip(server: LiveServer) -> str:
    """A documentation address (TEST-NET-2) whose counters are empty (they outlive a run)."""
    for _ in range(1000):
        ip = f"198.51.100.{secrets.randbelow(254) + 1}"
        prefix = server.state.settings.redis_prefix
        found = await server.state.redis.exists(
            f"{prefix}:limit:admin_login_ip:{ip}", f"{prefix}:limit:otp_ip:{ip}"
        )
        if not found:
            return ip
    raise AssertionError("no unused test address left")


# -- 11: admin login limits ---------------------------------------------------------------


@pytest.mark.parametrize("known", [True, False], ids=["known_admin", "unknown_name"])
async def test_parallel_wrong_passwords_are_counted_before_hashing(
    server: LiveServer, known: bool
) -> None:
    limit = server.state.settings.admin_login_max_per_name
    username = new_username("par")
    if known:
        await create_admin(server.state.pool, username, PASSWORD, "viewer")
    attempts = 60
    async with server.http() as client:
        # Each attempt from its own address: only the per-name limit applies.
        results = await asyncio.gather(*[
            client.post("/admin/login", json={"username": username, "password": "wrong-pass"},
                        headers=from_ip(f"192.0.2.{i + 1}"))
            for i in range(attempts)
        ])
        codes = sorted((r.status_code, r.json()["code"]) for r in results)
        # A 401 needs a password hash: exactly `limit` attempts got that far.
        assert codes == ([(401, "invalid_credentials")] * limit
                         + [(429, "login_rate_limited")] * (attempts - limit))
        assert all(int(r.headers["Retry-After"]) > 0 for r in results if r.status_code == 429)
        if known:  # the right password is refused too until the window ends
            r = await client.post("/admin/login", json={"username": username,
                                                        "password": PASSWORD})
            assert (r.status_code, r.json()["code"]) == (429, "login_rate_limited")


async def test_one_address_is_limited_across_usernames(server: LiveServer) -> None:
    ip = await _fresh_ip(server)
    per_ip = 3
    with tuned(server, admin_login_max_per_ip=per_ip):
        async with server.http() as client:
            results = await asyncio.gather(*[
                client.post("/admin/login",
                            json={"username": new_username("ip"), "password": "wrong-pass"},
                            headers=from_ip(ip))
                for _ in range(10)
            ])
            codes = sorted(r.json()["code"] for r in results)
            assert codes == ["invalid_credentials"] * per_ip + ["login_rate_limited"] * 7
            # Another address is not affected.
            username = new_username("ok")
            await create_admin(server.state.pool, username, PASSWORD, "viewer")
            r = await client.post("/admin/login", json={"username": username,
                                                        "password": PASSWORD},
                                  headers=from_ip(await _fresh_ip(server)))
            assert r.status_code == 200, r.text


async def test_a_successful_login_does_not_count_against_the_address(server: LiveServer) -> None:
    ip = await _fresh_ip(server)
    username = new_username("ok")
    await create_admin(server.state.pool, username, PASSWORD, "viewer")
    with tuned(server, admin_login_max_per_ip=2):
        async with server.http() as client:
            for _ in range(4):
                r = await client.post("/admin/login", json={"username": username,
                                                            "password": PASSWORD},
                                      headers=from_ip(ip))
                assert r.status_code == 200, r.text


# -- 18: login codes per address ----------------------------------------------------------


async def test_login_codes_are_limited_per_address(server: LiveServer) -> None:
    ip = await _fresh_ip(server)
    per_ip = 5
    with tuned(server, otp_ip_max=per_ip):
        async with server.http() as client:
            results = await asyncio.gather(*[
                client.post("/auth/otp/request", json={"phone": random_phone()},
                            headers=from_ip(ip))
                for _ in range(12)
            ])
            statuses = sorted(r.status_code for r in results)
            assert statuses == [202] * per_ip + [429] * (12 - per_ip)
            refused = [r for r in results if r.status_code == 429]
            assert {r.json()["code"] for r in refused} == {"otp_rate_limited"}
            assert all(int(r.headers["Retry-After"]) > 0 for r in refused)
            other = await client.post("/auth/otp/request", json={"phone": random_phone()},
                                      headers=from_ip(await _fresh_ip(server)))
            assert other.status_code == 202


# -- 12: sessions end on logout -----------------------------------------------------------


async def test_logout_stops_the_access_token_at_once(server: LiveServer) -> None:
    async with server.http() as client:
        session = await login(client, server)
        other = await login(client, server)  # another player's session is untouched
        headers = bearer(session["access_token"])
        assert (await client.get("/me", headers=headers)).status_code == 200
        r = await client.post("/auth/logout", json={"refresh_token": session["refresh_token"]})
        assert r.status_code == 204
        r = await client.get("/me", headers=headers)
        assert (r.status_code, r.json()["code"]) == (401, "session_revoked")
        assert (await client.get("/me", headers=bearer(other["access_token"]))).status_code == 200
        # Logging out again is harmless.
        r = await client.post("/auth/logout", json={"refresh_token": session["refresh_token"]})
        assert r.status_code == 204


async def test_tokens_from_refresh_belong_to_the_session(server: LiveServer) -> None:
    async with server.http() as client:
        session = await login(client, server)
        r = await client.post("/auth/refresh", json={"refresh_token": session["refresh_token"]})
        refreshed = r.json()
        r = await client.post("/auth/logout", json={"refresh_token": refreshed["refresh_token"]})
        assert r.status_code == 204
        for token in (session["access_token"], refreshed["access_token"]):
            r = await client.get("/me", headers=bearer(token))
            assert (r.status_code, r.json()["code"]) == (401, "session_revoked")


async def test_a_reused_refresh_token_ends_the_access_tokens_too(server: LiveServer) -> None:
    async with server.http() as client:
        session = await login(client, server)
        r = await client.post("/auth/refresh", json={"refresh_token": session["refresh_token"]})
        second = r.json()
        r = await client.post("/auth/refresh", json={"refresh_token": session["refresh_token"]})
        assert r.json()["code"] == "refresh_reused"
        r = await client.get("/me", headers=bearer(second["access_token"]))
        assert (r.status_code, r.json()["code"]) == (401, "session_revoked")


@pytest.fixture(scope="module")
async def node_b(
    test_services: support.TestServices, tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[LiveServer]:
    """A second node sharing Postgres and Redis, for logouts that must cross nodes."""
    data_dir: Path = tmp_path_factory.mktemp("auth_node_b")
    settings = test_services.settings(data_dir, node_id="auth-node-b")
    async with run_server(settings, test_services.services_for_run()) as live:
        yield live


async def test_logout_closes_the_sessions_sockets_on_every_node(
    server: LiveServer, node_b: LiveServer
) -> None:
    async with server.http() as client:
        session = await login(client, server)
        ws, welcome = await open_ws(node_b.ws_url, session["access_token"])
        async with ws:
            assert welcome["token_expires_at_ms"] > 0
            await ws.send(pack({"t": "ping", "rid": 1}))
            assert (await recv_type(ws, "pong"))["rid"] == 1
            r = await client.post("/auth/logout",
                                  json={"refresh_token": session["refresh_token"]})
            assert r.status_code == 204
            frames, code, reason = await closed_with(ws)
            assert [f["code"] for f in frames if f["t"] == "error"] == ["session_revoked"]
            assert (code, reason) == (1008, "session_revoked")
        # The token cannot open a new socket either, on any node.
        for url in (server.ws_url, node_b.ws_url):
            ws = await connect(url)
            await ws.send(pack({"t": "hello", "rid": 1, "token": session["access_token"]}))
            frames, code, reason = await closed_with(ws)
            assert [f["code"] for f in frames] == ["session_revoked"]
            assert (code, reason) == (1008, "session_revoked")


async def test_logout_leaves_other_sessions_sockets_open(server: LiveServer) -> None:
    async with server.http() as client:
        first = await login(client, server)
        ws, _ = await open_ws(server.ws_url, first["access_token"])
        async with ws:
            other = await login(client, server)  # another player
            r = await client.post("/auth/logout", json={"refresh_token": other["refresh_token"]})
            assert r.status_code == 204
            await ws.send(pack({"t": "ping", "rid": "still"}))
            assert (await recv_type(ws, "pong"))["rid"] == "still"


# -- 12: token expiry on open sockets -----------------------------------------------------


@contextlib.contextmanager
def hub_clock(server: LiveServer) -> Iterator[list[float]]:
    """Drive the gateway hub's wall clock by hand (token expiry): set clock[0]."""
    hub = server.state.extras["gateway_hub"]
    original = hub.wall_clock
    now = [original()]
    hub.wall_clock = lambda: now[0]
    try:
        yield now
    finally:
        hub.wall_clock = original


async def test_an_open_socket_ends_when_its_token_expires_unless_renewed(
    server: LiveServer,
) -> None:
    state = server.state
    hub = state.extras["gateway_hub"]
    async with server.http() as client:
        session = await login(client, server)
    user_id = session["user"]["id"]
    ws, welcome = await open_ws(server.ws_url, session["access_token"])
    async with ws:
        first_exp_s = welcome["token_expires_at_ms"] / 1000
        # Renew with a later token of the same player.
        later = issue_access_token(state.jwt_secret, user_id, "player", 3600)
        await ws.send(pack({"t": "auth", "rid": "a1", "token": later}))
        authed = await recv_type(ws, "authed")
        assert authed["rid"] == "a1" and authed["token_expires_at_ms"] / 1000 > first_exp_s + 60
        # Refused renewals leave the socket as it was.
        stranger = issue_access_token(state.jwt_secret, str(uuid.uuid4()), "player", 3600)
        await ws.send(pack({"t": "auth", "rid": "a2", "token": stranger}))
        assert (await recv_type(ws, "error"))["code"] == "forbidden"
        await ws.send(pack({"t": "auth", "rid": "a3", "token": "nope"}))
        assert (await recv_type(ws, "error"))["code"] == "token_invalid"
        with hub_clock(server) as clock:
            clock[0] = first_exp_s + 1
            hub.close_expired()
            await ws.send(pack({"t": "ping", "rid": "alive"}))
            assert (await recv_type(ws, "pong"))["rid"] == "alive"
            clock[0] = authed["token_expires_at_ms"] / 1000 + 1
            hub.close_expired()
            frames, code, reason = await closed_with(ws)
    assert [f["code"] for f in frames if f["t"] == "error"] == ["token_expired"]
    assert (code, reason) == (1008, "token_expired")


async def test_an_open_socket_without_renewal_ends_at_expiry(server: LiveServer) -> None:
    hub = server.state.extras["gateway_hub"]
    async with server.http() as client:
        session = await login(client, server)
    ws, welcome = await open_ws(server.ws_url, session["access_token"])
    async with ws:
        with hub_clock(server) as clock:
            clock[0] = welcome["token_expires_at_ms"] / 1000 + 1
            hub.close_expired()
            frames, code, reason = await closed_with(ws)
    assert [f["code"] for f in frames if f["t"] == "error"] == ["token_expired"]
    assert (code, reason) == (1008, "token_expired")


# -- 13: a disabled admin cannot spectate -------------------------------------------------


async def _admin_ws_hello(server: LiveServer, token: str) -> tuple[list[dict[str, Any]], Any]:
    """Say hello on /admin/ws; the frames until the first non-error one or the close."""
    url = server.ws_url.replace("/ws", "/admin/ws")
    ws = await connect(url)
    async with ws:
        await ws.send(json.dumps({"t": "hello", "token": token}))
        first = await recv(ws)
        if first["t"] != "error":
            return [first], None
        frames, code, _ = await closed_with(ws)
        return [first, *frames], code


async def test_a_disabled_admin_cannot_open_the_admin_socket(server: LiveServer) -> None:
    username = new_username("spec")
    await create_admin(server.state.pool, username, PASSWORD, "viewer")
    async with server.http() as client:
        r = await client.post("/admin/login", json={"username": username, "password": PASSWORD})
        session = r.json()
    frames, _ = await _admin_ws_hello(server, session["access_token"])
    assert frames[0]["t"] == "welcome"
    await server.state.pool.execute(
        "UPDATE admins SET disabled = true WHERE id = $1::uuid", session["admin"]["id"]
    )
    frames, code = await _admin_ws_hello(server, session["access_token"])
    assert [f["t"] for f in frames] == ["error"] and code == 1008


async def test_an_open_admin_socket_stops_once_its_admin_is_disabled(server: LiveServer) -> None:
    username = new_username("spec")
    await create_admin(server.state.pool, username, PASSWORD, "viewer")
    async with server.http() as client:
        r = await client.post("/admin/login", json={"username": username, "password": PASSWORD})
        session = r.json()
    url = server.ws_url.replace("/ws", "/admin/ws")
    async with await connect(url) as ws:
        await ws.send(json.dumps({"t": "hello", "token": session["access_token"]}))
        assert (await recv(ws))["t"] == "welcome"
        await server.state.pool.execute(
            "UPDATE admins SET disabled = true WHERE id = $1::uuid", session["admin"]["id"]
        )
        await ws.send(json.dumps({"t": "spectate", "room_id": "any"}))
        frames, code, _ = await closed_with(ws)
    assert [f["t"] for f in frames] == ["error"] and code == 1008


# -- 15: a valid token for a player that does not exist -----------------------------------


async def test_a_token_for_a_missing_player_is_a_clean_401(server: LiveServer) -> None:
    token = issue_access_token(server.state.jwt_secret, str(uuid.uuid4()), "player", 900)
    garbled = issue_access_token(server.state.jwt_secret, "not-a-uuid", "player", 900)
    async with server.http() as client:
        for t in (token, garbled):
            for method, path, body in [
                ("GET", "/me", None),
                ("POST", "/wallet/deposits", {"amount_minor": 10_000, "reference": "QX1"}),
                ("GET", "/games/fair", None),
                ("POST", "/games/dice/bets", {"stake_minor": 1_000, "choice": "over",
                                              "idem_key": "k1"}),
            ]:
                r = await client.request(method, path, json=body, headers=bearer(t))
                assert r.status_code == 401, (path, r.text)
                assert r.json()["code"] == "session_invalid", path


# -- 18: security headers and /metrics ----------------------------------------------------


async def test_pages_carry_security_headers(server: LiveServer) -> None:
    async with server.http() as client:
        for path in ("/", "/admin", "/static/js/app.js", "/config"):
            r = await client.get(path)
            assert r.status_code == 200, path
            csp = r.headers["content-security-policy"]
            assert "frame-ancestors 'none'" in csp and "script-src 'self'" in csp
            assert "'unsafe-inline'" not in csp.split("script-src")[1].split(";")[0]
            assert r.headers["x-frame-options"] == "DENY"
            assert r.headers["x-content-type-options"] == "nosniff"
            assert r.headers["referrer-policy"] == "no-referrer"


async def test_metrics_answer_loopback_or_the_metrics_token(server: LiveServer) -> None:
    async with server.http() as client:
        assert (await client.get("/metrics")).status_code == 200  # loopback
        r = await client.get("/metrics", headers=from_ip("203.0.113.7"))
        assert (r.status_code, r.json()["code"]) == (403, "forbidden")
        with tuned(server, metrics_token="m-" + "z" * 30):
            r = await client.get("/metrics")
            assert (r.status_code, r.json()["code"]) == (401, "token_invalid")
            r = await client.get("/metrics", headers=from_ip("203.0.113.7", bearer("wrong")))
            assert r.status_code == 401
            r = await client.get("/metrics",
                                 headers=from_ip("203.0.113.7", bearer("m-" + "z" * 30)))
            assert r.status_code == 200 and "matchpot_ws_connections" in r.text

