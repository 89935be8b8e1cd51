"""Admins over real HTTP: passwords, roles, the audit log and the CLI."""

from __future__ import annotations

import asyncio
import secrets
import subprocess
import sys
from typing import Any

import httpx
import pytest

from server.admin.accounts import AdminInputError, create_admin
from tests import support
from tests.server.test_auth import bearer, login
from tests.support import REPO, LiveServer

pytestmark = pytest.mark.usefixtures("ledger")

PASSWORD = "correct horse battery"


def new_username(prefix: str = "adm") -> str:
    return f"{prefix}_{secrets.token_hex(4)}"


async def admin_session(client: httpx.AsyncClient, server: LiveServer, role: str
                        ) -> dict[str, Any]:
    """Create an admin with `role` and log it in over HTTP."""
    username = new_username(role)
    await create_admin(server.state.pool, username, PASSWORD, role)
    r = await client.post("/admin/login", json={"username": username, "password": PASSWORD})
    assert r.status_code == 200, r.text
    return dict(r.json())


async def test_admin_login_gives_a_token_with_the_role(server: LiveServer) -> None:
    async with server.http() as client:
        session = await admin_session(client, server, "operator")
        assert session["admin"]["role"] == "operator"
        me = await client.get("/admin/me", headers=bearer(session["access_token"]))
        assert me.status_code == 200
        assert me.json()["role"] == "operator"
        assert me.json()["username"] == session["admin"]["username"]
        rows = await server.state.pool.fetch(
            "SELECT action FROM audit_log WHERE admin_id = $1::uuid",
            session["admin"]["id"],
        )
        assert [r["action"] for r in rows] == ["admin.login"]


async def test_wrong_credentials_are_refused_alike(server: LiveServer) -> None:
    username = new_username()
    await create_admin(server.state.pool, username, PASSWORD, "finance")
    async with server.http() as client:
        wrong = await client.post("/admin/login", json={"username": username, "password": "nope"})
        unknown = await client.post("/admin/login", json={"username": "nobody_x",
                                                           "password": PASSWORD})
        for r in (wrong, unknown):
            assert (r.status_code, r.json()["code"]) == (401, "invalid_credentials")
        r = await client.post("/admin/login", json={"username": username, "password": 12345678})
        assert (r.status_code, r.json()["code"]) == (400, "invalid_request")


async def test_bad_admin_input_is_refused(server: LiveServer) -> None:
    pool = server.state.pool
    username = new_username()
    with pytest.raises(AdminInputError, match="role"):
        await create_admin(pool, username, PASSWORD, "root")
    with pytest.raises(AdminInputError, match="password"):
        await create_admin(pool, username, "short", "viewer")
    with pytest.raises(AdminInputError, match="username"):
        await create_admin(pool, "Bad Name!", PASSWORD, "viewer")
    assert await pool.fetchval("SELECT count(*) FROM admins WHERE username = $1", username) == 0
    await create_admin(pool, username, PASSWORD, "viewer")
    with pytest.raises(AdminInputError, match="exists"):
        await create_admin(pool, username, PASSWORD, "finance")
    assert await pool.fetchval("SELECT role FROM admins WHERE username = $1", username) == "viewer"


async def test_roles_guard_admin_routes(server: LiveServer) -> None:
    async with server.http() as client:
        viewer = await admin_session(client, server, "viewer")
        player = await login(client, server)
        r = await client.get("/admin/deposits?state=pending",
                             headers=bearer(viewer["access_token"]))
        assert r.status_code == 200
        fake_id = "00000000-0000-4000-8000-000000000000"
        for token in (viewer["access_token"], player["access_token"]):
            r = await client.post(f"/admin/deposits/{fake_id}/approve", headers=bearer(token))
            assert (r.status_code, r.json()["code"]) == (403, "forbidden")
        r = await client.post(f"/admin/deposits/{fake_id}/approve")
        assert (r.status_code, r.json()["code"]) == (401, "token_missing")
        r = await client.get("/admin/audit", headers=bearer(player["access_token"]))
        assert (r.status_code, r.json()["code"]) == (403, "forbidden")


async def test_a_disabled_admin_is_locked_out_at_once(server: LiveServer) -> None:
    async with server.http() as client:
        session = await admin_session(client, server, "finance")
        headers = bearer(session["access_token"])
        assert (await client.get("/admin/me", headers=headers)).status_code == 200
        await server.state.pool.execute(
            "UPDATE admins SET disabled = true WHERE id = $1::uuid", session["admin"]["id"]
        )
        r = await client.get("/admin/me", headers=headers)
        assert (r.status_code, r.json()["code"]) == (401, "token_invalid")
        r = await client.post("/admin/login", json={"username": session["admin"]["username"],
                                                    "password": PASSWORD})
        assert (r.status_code, r.json()["code"]) == (401, "invalid_credentials")


async def test_audit_log_is_readable_by_target(server: LiveServer) -> None:
    async with server.http() as client:
        session = await admin_session(client, server, "viewer")
        target = f"admin:{session['admin']['id']}"
        r = await client.get("/admin/audit", params={"target": target},
                             headers=bearer(session["access_token"]))
        assert r.status_code == 200
        actions = [item["action"] for item in r.json()["items"]]
        assert actions == ["admin.login", "admin.create"]
        assert r.json()["items"][0]["admin"] == session["admin"]["username"]
        r = await client.get("/admin/audit", params={"limit": "0"},
                             headers=bearer(session["access_token"]))
        assert (r.status_code, r.json()["code"]) == (400, "invalid_request")


async def test_cli_admin_create_makes_a_working_admin(
    server: LiveServer, test_services: support.TestServices, tmp_path: Any
) -> None:
    username = new_username("cli")
    env = test_services.env(tmp_path)
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "server", "admin", "create", username, "--role", "finance",
        "--password", PASSWORD, cwd=REPO, env=env,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, err.decode()[-2000:]
    assert f"admin {username} (finance)" in out.decode()
    async with server.http() as client:
        r = await client.post("/admin/login", json={"username": username, "password": PASSWORD})
        assert r.status_code == 200, r.text
        assert r.json()["admin"]["role"] == "finance"


async def test_repeated_wrong_passwords_lock_the_username_for_a_while(server: LiveServer) -> None:
    limit = server.state.settings.admin_login_max_per_name
    username = new_username()
    await create_admin(server.state.pool, username, PASSWORD, "viewer")
    async with server.http() as client:
        for _ in range(limit):
            r = await client.post("/admin/login", json={"username": username, "password": "bad"})
            assert r.json()["code"] == "invalid_credentials"
        r = await client.post("/admin/login", json={"username": username, "password": PASSWORD})
        assert (r.status_code, r.json()["code"]) == (429, "login_rate_limited")
        assert int(r.headers["Retry-After"]) > 0
