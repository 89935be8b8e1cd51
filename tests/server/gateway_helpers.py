"""Helpers for the websocket gateway tests: players, tokens, raw sockets, frames."""

from __future__ import annotations

import asyncio
import json
import random
import uuid
from typing import Any

import msgpack
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from ledger import TransferRequest, transfer_id
from server.auth.tokens import issue_access_token
from server.auth.users import User, get_or_create_user_by_phone

RECV_TIMEOUT_S = 10.0


def random_phone() -> str:
    return "+2547" + "".join(random.choice("0123456789") for _ in range(8))


async def new_player(state: Any) -> tuple[User, str]:
    """A fresh player row and a valid access token for it."""
    user = await get_or_create_user_by_phone(state.pool, random_phone())
    return user, issue_access_token(state.jwt_secret, user.id, "player", 900)


def pack(frame: Any) -> bytes:
    return msgpack.packb(frame, use_bin_type=True)  # type: ignore[no-any-return]


async def recv(ws: ClientConnection, timeout_s: float = RECV_TIMEOUT_S) -> dict[str, Any]:
    """The next frame, decoded from msgpack (binary) or JSON (text)."""
    async with asyncio.timeout(timeout_s):
        data = await ws.recv()
    value = msgpack.unpackb(data, raw=False) if isinstance(data, bytes) else json.loads(data)
    assert isinstance(value, dict), value
    return value


async def recv_type(
    ws: ClientConnection, t: str, timeout_s: float = RECV_TIMEOUT_S
) -> dict[str, Any]:
    """The next frame of type `t`, skipping others (e.g. balance pushes)."""
    async with asyncio.timeout(timeout_s):
        while True:
            frame = await recv(ws)
            if frame["t"] == t:
                return frame


async def open_ws(
    url: str, token: str, *, codec: str = "msgpack", **kw: Any
) -> tuple[ClientConnection, dict[str, Any]]:
    """Connect, say hello and return the socket with its welcome."""
    ws = await connect(url, **kw)
    hello = {"t": "hello", "rid": "h", "token": token}
    await ws.send(pack(hello) if codec == "msgpack" else json.dumps(hello))
    welcome = await recv(ws)
    assert welcome["t"] == "welcome", welcome
    return ws, welcome


Closed = tuple[list[dict[str, Any]], int | None, str | None]


async def closed_with(ws: ClientConnection, timeout_s: float = RECV_TIMEOUT_S) -> Closed:
    """Read until the server closes; return the frames seen, the close code and reason."""
    frames: list[dict[str, Any]] = []
    try:
        async with asyncio.timeout(timeout_s):
            while True:
                frames.append(await recv(ws))
    except ConnectionClosed:
        pass
    assert ws.close_code is not None, "the server did not close the connection"
    return frames, ws.close_code, ws.close_reason


async def deposit(state: Any, user_id: str, amount_minor: int, cause: str) -> None:
    await state.ledger.transfer(TransferRequest(
        id=transfer_id("gateway-test", cause, user_id), debit="world",
        credit=f"user:{user_id}", amount_minor=amount_minor, currency="KES", code="deposit",
    ))


def new_cause() -> str:
    return uuid.uuid4().hex
