"""Random frames thrown at a live server; afterwards it still serves a normal client.

Hypothesis runs in a worker thread with the synchronous websockets client, so the
server keeps running in the test's event loop meanwhile.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import msgpack
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from tests.server.gateway_helpers import new_player, open_ws, pack, recv

pytestmark = pytest.mark.usefixtures("ledger")

INT64 = st.integers(min_value=-(2**63), max_value=2**63 - 1)
SCALARS = st.none() | st.booleans() | INT64 | st.floats() | st.text(max_size=40) | st.binary(
    max_size=40
)


def _containers(inner: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=10), inner, max_size=5)


VALUES = st.recursive(SCALARS, _containers, max_leaves=20)
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=40),
    _containers, max_leaves=20,
)
TYPES = st.sampled_from(["ping", "balance", "hello", "test_unknown", "", "error", "welcome"])
ENVELOPES = st.fixed_dictionaries(
    {"t": TYPES | st.text(max_size=80) | INT64},
    optional={"rid": VALUES, "ts": VALUES, "token": VALUES, "word": VALUES},
)


def _as_msgpack(value: Any) -> bytes:
    return msgpack.packb(value, use_bin_type=True)  # type: ignore[no-any-return]


FRAMES = st.one_of(
    st.binary(max_size=2048),  # random bytes
    st.text(max_size=512),  # random text
    VALUES.map(_as_msgpack),  # random msgpack values
    JSON_VALUES.map(json.dumps),  # random JSON values
    ENVELOPES.map(_as_msgpack),  # plausible frames with random fields
    ENVELOPES.filter(lambda f: not any(isinstance(v, bytes) for v in f.values()))
    .map(lambda f: json.dumps(f, default=repr)),
    st.integers(min_value=16_000, max_value=40_000).map(lambda n: b"\x92" + b"\xc0" * n),  # big
)


def _decode(data: bytes | str) -> dict[str, Any]:
    """Replies come in the codec of the frame they answer: text JSON or binary msgpack."""
    value = json.loads(data) if isinstance(data, str) else msgpack.unpackb(data, raw=False)
    assert isinstance(value, dict) and isinstance(value.get("t"), str), value
    return value


def _throw(url: str, token: str, frames: list[bytes | str]) -> None:
    with connect(url, open_timeout=10) as ws:
        ws.send(_as_msgpack({"t": "hello", "token": token}))
        assert msgpack.unpackb(ws.recv(timeout=10))["t"] == "welcome"
        try:
            for frame in frames:
                ws.send(frame)
            # A last ping: once its pong arrives, every frame before it was handled.
            ws.send(_as_msgpack({"t": "ping", "rid": "fuzz-end"}))
            while _decode(ws.recv(timeout=10)).get("rid") != "fuzz-end":
                pass
        except ConnectionClosed:
            pass  # closing a connection that misbehaves is a fine answer


def _still_served(ws: ClientConnection, rid: int) -> None:
    """A ping answered by pong; a polite client backs off when told it is rate limited.

    The sleep is the behaviour under test, not a wait for a condition: the gateway's token
    bucket refills on the event loop's real time (there is no clock to drive), and a client
    that retried without backing off would be closed for persistent abuse. It runs on the
    worker thread with the synchronous client, where `eventually` (async) does not apply.
    """
    for attempt in range(100):
        ws.send(_as_msgpack({"t": "ping", "rid": rid}))
        while True:
            reply = _decode(ws.recv(timeout=10))
            if reply.get("rid") == rid:
                break
        if reply["t"] == "pong":
            return
        assert reply["code"] == "rate_limited", reply
        time.sleep(0.05 * (attempt + 1))
    raise AssertionError("the normal client was never served")


async def test_random_frames_never_hurt_the_server(server: Any) -> None:
    _, fuzz_token = await new_player(server.state)
    _, normal_token = await new_player(server.state)
    url = server.ws_url

    def run() -> None:
        with connect(url, open_timeout=10) as normal:
            normal.send(_as_msgpack({"t": "hello", "token": normal_token}))
            assert msgpack.unpackb(normal.recv(timeout=10))["t"] == "welcome"
            counter = iter(range(1_000_000))

            @settings(
                max_examples=100, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
            )
            @given(frames=st.lists(FRAMES, min_size=1, max_size=6))
            def check(frames: list[bytes | str]) -> None:
                _throw(url, fuzz_token, frames)
                _still_served(normal, next(counter))

            check()

    await asyncio.to_thread(run)
    # And a brand-new client is served normally afterwards.
    ws, _ = await open_ws(server.ws_url, normal_token)
    async with ws:
        await ws.send(pack({"t": "ping", "rid": "after"}))
        assert (await recv(ws))["rid"] == "after"
