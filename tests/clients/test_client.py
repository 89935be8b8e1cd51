"""The Python client SDK against a live server: login, requests, events, reconnect, the CLI."""

from __future__ import annotations

import asyncio
import sys
import time
from typing import Any

import pytest
from matchpot_client import MatchpotClient, MatchpotError

from ledger import TransferRequest, transfer_id
from server.auth.tokens import issue_access_token
from tests.server.gateway_helpers import (
    deposit,
    new_cause,
    new_player,
    random_phone,
)
from tests.support import REPO
from tests.waiting import eventually

pytestmark = pytest.mark.usefixtures("ledger")


def _last_code(server: Any, phone: str) -> str:
    code = server.state.extras["otp_sender"].last_code(phone)
    assert code is not None, "the log sender did not record a code"
    return str(code)


async def _logged_in(server: Any, **kw: Any) -> tuple[MatchpotClient, str]:
    phone = random_phone()
    client = MatchpotClient(server.base_url, **kw)
    await client.request_otp(phone)
    await client.verify_otp(phone, _last_code(server, phone))
    return client, phone


@pytest.mark.parametrize("codec", ["msgpack", "json"])
async def test_login_connect_request_and_balance_events(server: Any, codec: str) -> None:
    client, phone = await _logged_in(server, codec=codec)
    async with client:
        assert client.session is not None and client.session.user["phone"] == phone
        welcome = await client.connect()
        user_id = welcome["user"]["id"]
        assert user_id == client.session.user["id"]
        assert welcome["balances"][0]["available_minor"] == 0
        pong = await client.request("ping", ts=5)
        assert pong["t"] == "pong" and pong["ts"] == 5
        await deposit(server.state, user_id, 10_000, new_cause())
        event = await client.next_event("balance", timeout=10)
        assert event["balances"][0]["available_minor"] == 10_000


async def test_error_frames_raise_with_the_server_code(server: Any) -> None:
    client, _ = await _logged_in(server)
    async with client:
        await client.connect()
        with pytest.raises(MatchpotError) as err:
            await client.request("no_such_type")
        assert err.value.code == "unknown_type"
        with pytest.raises(MatchpotError) as err:
            await client.request("ping", ts="not a number")
        assert err.value.code == "invalid_field"
        assert (await client.request("ping"))["t"] == "pong"  # still usable


async def test_http_errors_carry_codes(server: Any) -> None:
    async with MatchpotClient(server.base_url) as client:
        with pytest.raises(MatchpotError) as err:
            await client.request_otp("not a phone")
        assert (err.value.code, err.value.status) == ("phone_invalid", 400)
        with pytest.raises(MatchpotError) as err:
            await client.connect()
        assert err.value.code == "token_missing"


async def test_a_bad_token_is_refused_on_connect(server: Any) -> None:
    async with MatchpotClient(server.base_url, access_token="forged") as client:
        with pytest.raises(MatchpotError) as err:
            await client.connect()
        assert err.value.code == "token_invalid"


async def test_expired_access_token_is_refreshed_on_connect(server: Any) -> None:
    client, _ = await _logged_in(server)
    async with client:
        assert client.session is not None
        old_refresh = client.session.refresh_token
        client.session.access_token = issue_access_token(
            server.state.jwt_secret, client.session.user["id"], "player", 60,
            now_s=time.time() - 3600,
        )
        welcome = await client.connect()
        assert welcome["t"] == "welcome"
        assert client.session.refresh_token != old_refresh  # rotated


async def test_reconnects_after_the_server_drops_the_socket(server: Any) -> None:
    client, _ = await _logged_in(server, backoff_base_s=0.01)
    resynced: list[dict[str, Any]] = []
    client.on_reconnect(lambda welcome: resynced.append(welcome))
    async with client:
        welcome = await client.connect()
        hub = server.state.extras["gateway_hub"]
        (conn,) = hub.connections_of(welcome["user"]["id"])
        conn.close_with_error(1001, "server_shutdown", "The server is restarting; reconnect.")
        dropped = await client.next_event("_disconnected", timeout=10)
        assert dropped["code"] == 1001
        back = await client.next_event("_reconnected", timeout=10)
        assert back["welcome"]["conn_id"] != welcome["conn_id"]
        assert resynced == [back["welcome"]]
        assert (await client.request("ping"))["t"] == "pong"


async def test_a_replaced_client_does_not_fight_back(server: Any) -> None:
    user, token = await new_player(server.state)
    first = MatchpotClient(server.base_url, access_token=token, backoff_base_s=0.01)
    second = MatchpotClient(server.base_url, access_token=token)
    async with first, second:
        await first.connect()
        await second.connect()
        dropped = await first.next_event("_disconnected", timeout=10)
        assert dropped["code"] == 4001
        assert first.close_code == 4001 and not first.connected
        assert (await second.request("ping"))["t"] == "pong"
        with pytest.raises(MatchpotError) as err:
            await first.next_event("_reconnected", timeout=0.5)
        assert err.value.code == "timeout"
        assert len(server.state.extras["gateway_hub"].connections_of(user.id)) == 1


async def test_event_buffer_is_bounded_and_drops_the_oldest(server: Any) -> None:
    user, token = await new_player(server.state)
    async with MatchpotClient(server.base_url, access_token=token, events_max=3) as client:
        await client.connect()
        from server.gateway.events import publish_to_user

        for i in range(6):
            await publish_to_user(server.state, user.id, {"t": "notice", "n": i})
        await eventually(lambda: client.dropped_events == 3,
                         what="the client to drop the three oldest events")
        seen = [(await client.next_event("notice", timeout=10))["n"] for _ in range(3)]
        assert seen == [3, 4, 5] and client.dropped_events == 3


async def test_watch_cli_prints_balance_changes_live(server: Any) -> None:
    phone = random_phone()
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "matchpot_client", "watch", "--phone", phone,
        "--base-url", server.base_url,
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, cwd=REPO,
    )
    assert proc.stdin is not None and proc.stdout is not None

    async def line() -> str:
        async with asyncio.timeout(30):
            return (await proc.stdout.readline()).decode()  # type: ignore[union-attr]

    try:
        assert "code was sent" in await line()
        proc.stdin.write((_last_code(server, phone) + "\n").encode())
        await proc.stdin.drain()
        assert "connected as" in await line()
        assert await line() == "KES credits: available 0.00  held 0.00\n"
        rows = await server.state.pool.fetch("SELECT id FROM users WHERE phone_e164 = $1", phone)
        user_id = str(rows[0]["id"])
        await server.state.ledger.transfer(TransferRequest(
            id=transfer_id("cli-test", user_id), debit="world", credit=f"user:{user_id}",
            amount_minor=12_550, currency="KES", code="deposit",
        ))
        assert await line() == "KES credits: available 125.50  held 0.00\n"
    finally:
        proc.terminate()
        await proc.wait()
