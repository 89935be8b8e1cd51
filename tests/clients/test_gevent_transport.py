"""The gevent transport (for locust) against a live server, in a monkey-patched subprocess."""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

import pytest

from tests.server.gateway_helpers import deposit, new_cause, new_player
from tests.support import REPO

pytestmark = pytest.mark.usefixtures("ledger")

SCRIPT = """
import gevent.monkey
gevent.monkey.patch_all()
import json, sys
from matchpot_client import MatchpotError
from matchpot_client.gevent_transport import GeventConnection

ws_url, token, codec = sys.argv[1:4]
out = {}
with GeventConnection(ws_url, token, codec=codec) as conn:
    out["welcome_user"] = conn.connect()["user"]["id"]
    out["pong_ts"] = conn.request("ping", ts=7)["ts"]
    try:
        conn.request("no_such_type")
    except MatchpotError as exc:
        out["error_code"] = exc.code
    print("ready", flush=True)
    out["balance"] = conn.next_event("balance", timeout=10)["balances"][0]["available_minor"]
try:
    conn.request("ping")
except MatchpotError as exc:
    out["after_close"] = exc.code
try:
    GeventConnection(ws_url, "not-a-token").connect()
except MatchpotError as exc:
    out["bad_token"] = exc.code
print(json.dumps(out), flush=True)
"""


@pytest.mark.parametrize("codec", ["msgpack", "json"])
async def test_requests_errors_and_pushes_over_gevent(server: Any, codec: str) -> None:
    user, token = await new_player(server.state)
    ws_url = "ws" + server.base_url.removeprefix("http") + "/ws"
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", SCRIPT, ws_url, token, codec, cwd=REPO,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None
        async with asyncio.timeout(30):
            assert (await proc.stdout.readline()).strip() == b"ready"
            await deposit(server.state, user.id, 2_500, new_cause())
            out, err = await proc.communicate()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert proc.returncode == 0, err.decode()
    assert json.loads(out) == {
        "welcome_user": user.id, "pong_ts": 7, "error_code": "unknown_type",
        "balance": 2_500, "after_close": "disconnected", "bad_token": "token_invalid",
    }
