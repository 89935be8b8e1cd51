"""The websocket gateway over real sockets: handshake, codecs, bad input, pushes, replacement."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import pytest
from websockets.asyncio.client import connect

from ledger import TransferRequest, transfer_id
from server.auth.tokens import issue_access_token
from server.gateway.events import publish_to_user
from server.gateway.registry import Connection, FrameError, field, on_disconnect, register
from tests.server.gateway_helpers import (
    closed_with,
    deposit,
    new_cause,
    new_player,
    open_ws,
    pack,
    recv,
    recv_type,
)
from tests.waiting import eventually

pytestmark = pytest.mark.usefixtures("ledger")

# A message type only these tests register, to prove features can extend the gateway.
_disconnected: list[str] = []


async def _test_echo(conn: Connection, frame: dict[str, Any]) -> dict[str, Any] | None:
    word = field(frame, "word", str)
    if word == "refuse":
        raise FrameError("word_refused", "That word is refused.")
    if word == "crash":
        raise RuntimeError("handler bug")
    if word == "silent":
        return None
    return {"t": "test_echoed", "word": word, "user_id": conn.user_id}


async def _remember_disconnect(conn: Connection) -> None:
    _disconnected.append(conn.conn_id)


register("test_echo", _test_echo)
on_disconnect(_remember_disconnect)


async def test_hello_gets_welcome_with_masked_phone_balances_and_limits(server: Any) -> None:
    user, token = await new_player(server.state)
    ws, welcome = await open_ws(server.ws_url, token)
    async with ws:
        assert welcome["rid"] == "h"
        assert welcome["user"]["id"] == user.id
        assert welcome["user"]["display_name"] == user.display_name
        phone = welcome["user"]["phone"]
        assert phone != user.phone_e164 and "*" in phone and phone.endswith(user.phone_e164[-3:])
        assert welcome["balances"] == [
            {"currency": "KES", "available_minor": 0, "posted_minor": 0, "held_minor": 0}
        ]
        assert welcome["limits"]["max_frame_bytes"] == server.state.settings.ws_max_frame_bytes
        assert welcome["limits"]["rate_per_s"] == server.state.settings.ws_rate_per_s
        assert welcome["money_mode"] == "credits"
        assert abs(welcome["server_time_ms"] - time.time() * 1000) < 60_000


async def test_welcome_shows_existing_balance(server: Any) -> None:
    user, token = await new_player(server.state)
    await deposit(server.state, user.id, 12_345, new_cause())
    ws, welcome = await open_ws(server.ws_url, token)
    async with ws:
        assert welcome["balances"][0]["available_minor"] == 12_345
        assert welcome["balances"][0]["posted_minor"] == 12_345


async def test_json_client_gets_json_and_msgpack_client_gets_msgpack(server: Any) -> None:
    _, token = await new_player(server.state)
    ws = await connect(server.ws_url)
    async with ws:
        await ws.send(json.dumps({"t": "hello", "rid": 7, "token": token}))
        raw = await ws.recv()
        assert isinstance(raw, str) and json.loads(raw)["t"] == "welcome"
        await ws.send(json.dumps({"t": "ping", "rid": "p1", "ts": 42}))
        raw = await ws.recv()
        assert isinstance(raw, str)
        pong = json.loads(raw)
        assert pong["t"] == "pong" and pong["rid"] == "p1" and pong["ts"] == 42
        # The same connection may switch: a binary request gets a binary reply.
        await ws.send(pack({"t": "ping", "rid": 99}))
        raw = await ws.recv()
        assert isinstance(raw, bytes)
        assert (await _decode(raw))["rid"] == 99


async def _decode(raw: bytes) -> dict[str, Any]:
    import msgpack

    value = msgpack.unpackb(raw, raw=False)
    assert isinstance(value, dict)
    return value


async def test_rid_is_echoed_on_replies_and_errors(server: Any) -> None:
    _, token = await new_player(server.state)
    ws, _ = await open_ws(server.ws_url, token)
    async with ws:
        await ws.send(pack({"t": "ping", "rid": "abc"}))
        assert (await recv(ws))["rid"] == "abc"
        await ws.send(pack({"t": "no_such_thing", "rid": 5}))
        error = await recv(ws)
        assert error == {"t": "error", "rid": 5, "code": "unknown_type", "msg": error["msg"]}
        await ws.send(pack({"t": "ping"}))
        assert "rid" not in await recv(ws)


def _token_cases(state: Any, user_id: str) -> list[tuple[Any, str]]:
    secret = state.jwt_secret
    return [
        (issue_access_token("another-secret-" + "y" * 32, user_id, "player", 900), "token_invalid"),
        (issue_access_token(secret, user_id, "player", 60, now_s=time.time() - 3600),
         "token_expired"),
        ("not-a-jwt", "token_invalid"),
        (None, "token_missing"),
        (12345, "token_invalid"),
        (issue_access_token(secret, user_id, "admin", 900, role="superadmin"), "forbidden"),
        (issue_access_token(secret, "00000000-0000-0000-0000-000000000000", "player", 900),
         "token_invalid"),
    ]


async def test_bad_expired_or_forged_tokens_get_error_then_1008(server: Any) -> None:
    user, good = await new_player(server.state)
    bystander, _ = await open_ws(server.ws_url, good)
    async with bystander:
        for token, code in _token_cases(server.state, user.id):
            ws = await connect(server.ws_url)
            hello: dict[str, Any] = {"t": "hello", "rid": 1}
            if token is not None:
                hello["token"] = token
            await ws.send(pack(hello))
            frames, close_code, reason = await closed_with(ws)
            assert [f["code"] for f in frames] == [code], (token, frames)
            assert frames[0]["rid"] == 1
            assert close_code == 1008 and reason == code
        await bystander.send(pack({"t": "ping", "rid": 1}))
        assert (await recv(bystander))["t"] == "pong"


async def test_first_frame_must_be_hello(server: Any) -> None:
    ws = await connect(server.ws_url)
    await ws.send(json.dumps({"t": "ping", "rid": 3}))
    frames, close_code, _ = await closed_with(ws)
    assert [(f["code"], f["rid"]) for f in frames] == [("hello_required", 3)]
    assert isinstance(frames, list) and close_code == 1008
    ws = await connect(server.ws_url)
    await ws.send(b"\xc1\xc1")  # never valid msgpack
    frames, close_code, _ = await closed_with(ws)
    assert [f["code"] for f in frames] == ["malformed_frame"] and close_code == 1008


BAD_FRAMES: list[tuple[str, bytes | str, str, Any]] = [
    ("truncated msgpack", b"\x82\xa1t", "malformed_frame", None),
    ("invalid msgpack byte", b"\xc1", "malformed_frame", None),
    ("broken JSON", '{"t": "ping", "rid": ', "malformed_frame", None),
    ("JSON array", json.dumps(["ping"]), "bad_frame", None),
    ("msgpack integer", pack(7), "bad_frame", None),
    ("map without t", pack({"rid": 4}), "bad_frame", 4),
    ("t not a string", pack({"t": 5, "rid": 6}), "bad_frame", 6),
    ("t too long", pack({"t": "x" * 65, "rid": 7}), "bad_frame", 7),
    ("unknown type", json.dumps({"t": "fly", "rid": "u"}), "unknown_type", "u"),
    ("wrong field type", pack({"t": "ping", "rid": 8, "ts": "soon"}), "invalid_field", 8),
    ("bool where int", pack({"t": "ping", "rid": 9, "ts": True}), "invalid_field", 9),
    ("rid of a wrong type", pack({"t": "ping", "rid": [1]}), "invalid_field", None),
    ("handler field missing", pack({"t": "test_echo", "rid": 10}), "invalid_field", 10),
]


async def test_each_bad_input_gets_its_code_and_the_connection_stays_usable(server: Any) -> None:
    _, token = await new_player(server.state)
    _, other_token = await new_player(server.state)
    other, _ = await open_ws(server.ws_url, other_token)
    async with other:
        chunk = 5  # below the bad-frame allowance, so each socket must stay open
        for start in range(0, len(BAD_FRAMES), chunk):
            ws, _ = await open_ws(server.ws_url, token)
            async with ws:
                for name, payload, code, rid in BAD_FRAMES[start:start + chunk]:
                    await ws.send(payload)
                    error = await recv(ws)
                    assert error["t"] == "error" and error["code"] == code, name
                    assert error.get("rid") == rid, name
                    assert isinstance(error["msg"], str) and error["msg"], name
                await ws.send(pack({"t": "ping", "rid": "alive"}))
                assert (await recv(ws))["rid"] == "alive"
            await other.send(pack({"t": "ping", "rid": start}))
            assert (await recv_type(other, "pong"))["rid"] == start


async def test_handler_errors_are_clean_and_the_connection_stays(server: Any) -> None:
    user, token = await new_player(server.state)
    ws, _ = await open_ws(server.ws_url, token)
    async with ws:
        await ws.send(pack({"t": "test_echo", "rid": 1, "word": "hi"}))
        assert await recv(ws) == {"t": "test_echoed", "rid": 1, "word": "hi", "user_id": user.id}
        await ws.send(pack({"t": "test_echo", "rid": 2, "word": "refuse"}))
        assert (await recv(ws))["code"] == "word_refused"
        await ws.send(pack({"t": "test_echo", "rid": 3, "word": "crash"}))
        assert (await recv(ws))["code"] == "internal_error"
        await ws.send(pack({"t": "test_echo", "rid": 4, "word": "silent"}))
        assert await recv(ws) == {"t": "ok", "rid": 4}
        await ws.send(pack({"t": "hello", "rid": 5, "token": token}))
        assert (await recv(ws))["code"] == "already_authenticated"
        await ws.send(pack({"t": "ping", "rid": 6}))
        assert (await recv(ws))["t"] == "pong"


async def test_disconnect_hooks_run(server: Any) -> None:
    _, token = await new_player(server.state)
    ws, welcome = await open_ws(server.ws_url, token)
    await ws.close()
    await eventually(lambda: welcome["conn_id"] in _disconnected,
                     what="the on_disconnect hook to run for the closed connection")


async def test_repeated_bad_frames_close_1008(server: Any) -> None:
    _, token = await new_player(server.state)
    ws, _ = await open_ws(server.ws_url, token)
    for _ in range(20):
        try:
            await ws.send(b"\xc1")
        except Exception:
            break
    frames, close_code, reason = await closed_with(ws)
    codes = [f["code"] for f in frames]
    assert codes[:10] == ["malformed_frame"] * 10
    assert codes[-1] == "too_many_bad_frames"
    assert close_code == 1008 and reason == "too_many_bad_frames"


async def test_oversized_frame_closes_1009_and_others_are_served(server: Any) -> None:
    _, token = await new_player(server.state)
    _, other_token = await new_player(server.state)
    ws, _ = await open_ws(server.ws_url, token)
    other, _ = await open_ws(server.ws_url, other_token)
    async with other:
        big = pack({"t": "ping", "pad": "x" * (server.state.settings.ws_max_frame_bytes + 1)})
        await ws.send(big)
        _, close_code, _ = await closed_with(ws)
        assert close_code == 1009
        await other.send(pack({"t": "ping", "rid": 1}))
        assert (await recv(other))["t"] == "pong"


async def test_newest_connection_wins_and_the_older_is_told(server: Any) -> None:
    user, token = await new_player(server.state)
    first, _ = await open_ws(server.ws_url, token)
    second, _ = await open_ws(server.ws_url, token)
    async with second:
        frames, close_code, reason = await closed_with(first)
        assert [f["code"] for f in frames if f["t"] == "error"] == ["replaced"]
        assert close_code == 4001 and reason == "replaced"
        await second.send(pack({"t": "ping", "rid": 1}))
        assert (await recv_type(second, "pong"))["rid"] == 1
        hub = server.state.extras["gateway_hub"]
        await eventually(lambda: len(hub.connections_of(user.id)) == 1,
                         what="the replaced connection to leave the hub")


async def test_balance_is_pushed_when_the_ledger_moves_money(server: Any) -> None:
    user, token = await new_player(server.state)
    ws, _ = await open_ws(server.ws_url, token)
    async with ws:
        await deposit(server.state, user.id, 50_000, new_cause())
        pushed = await recv_type(ws, "balance")
        assert pushed["balances"] == [
            {"currency": "KES", "available_minor": 50_000, "posted_minor": 50_000, "held_minor": 0}
        ]
        hold_id = transfer_id("gateway-test-hold", user.id)
        await server.state.ledger.hold(
            hold_id, f"user:{user.id}", f"escrow:gw-{user.id}", 20_000, "KES",
            timeout_s=300, code="stake",
        )
        held = await recv_type(ws, "balance")
        assert held["balances"][0]["available_minor"] == 30_000
        assert held["balances"][0]["held_minor"] == 20_000
        await server.state.ledger.void(transfer_id("gateway-test-void", user.id), hold_id)
        released = await recv_type(ws, "balance")
        assert released["balances"][0]["available_minor"] == 50_000


async def test_a_burst_of_transfers_ends_in_the_exact_balance(server: Any) -> None:
    user, token = await new_player(server.state)
    ws, _ = await open_ws(server.ws_url, token)
    async with ws:
        cause = new_cause()
        await asyncio.gather(*(
            deposit(server.state, user.id, 100 + i, f"{cause}-{i}") for i in range(20)
        ))
        total = sum(100 + i for i in range(20))
        pushes = 0
        while True:
            pushed = await recv_type(ws, "balance")
            pushes += 1
            if pushed["balances"][0]["available_minor"] == total:
                break
        assert pushes <= 20  # never more pushes than commits


async def test_batch_push_and_the_resync_request(server: Any) -> None:
    user, token = await new_player(server.state)
    ws, _ = await open_ws(server.ws_url, token)
    async with ws:
        cause = new_cause()
        await server.state.ledger.batch([
            TransferRequest(id=transfer_id(cause, i), debit="world", credit=f"user:{user.id}",
                            amount_minor=1_000, currency="KES", code="deposit")
            for i in range(5)
        ])
        assert (await recv_type(ws, "balance"))["balances"][0]["available_minor"] == 5_000
        await ws.send(pack({"t": "balance", "rid": "b"}))
        reply = await recv_type(ws, "balance")
        assert reply["rid"] == "b" and reply["balances"][0]["posted_minor"] == 5_000


async def test_publish_to_user_reaches_every_open_socket(server: Any) -> None:
    user, token = await new_player(server.state)
    ws, _ = await open_ws(server.ws_url, token, codec="json")
    async with ws:
        await publish_to_user(server.state, user.id, {"t": "notice", "text": "hello there"})
        assert (await recv_type(ws, "notice"))["text"] == "hello there"


async def test_frames_are_counted_in_metrics(server: Any) -> None:
    def pings(text: str) -> float:
        for line in text.splitlines():
            if line.startswith('matchpot_ws_frames_in_total{t="ping"}'):
                return float(line.split()[-1])
        return 0.0

    async with server.http() as http:
        before = pings((await http.get("/metrics")).text)
        _, token = await new_player(server.state)
        ws, _ = await open_ws(server.ws_url, token)
        async with ws:
            for i in range(3):
                await ws.send(pack({"t": "ping", "rid": i}))
                await recv(ws)
        after = (await http.get("/metrics")).text
        assert pings(after) >= before + 3
        assert "matchpot_ws_connections" in after
