"""Gateway limits, each on a server of its own with tight settings."""

from __future__ import annotations

import asyncio
import base64
import os
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.client import connect

from tests import support
from tests.server.gateway_helpers import closed_with, new_player, open_ws, pack, recv
from tests.support import LiveServer, run_server
from tests.waiting import eventually

pytestmark = pytest.mark.usefixtures("ledger")


@asynccontextmanager
async def tight_server(
    test_services: support.TestServices, tmp_path: Path, **overrides: Any
) -> AsyncIterator[LiveServer]:
    settings = test_services.settings(tmp_path, **overrides)
    async with run_server(settings, test_services.services_for_run()) as live:
        yield live


async def test_rate_limit_answers_rate_limited_then_closes_persistent_abuse(
    test_services: support.TestServices, tmp_path: Path,
) -> None:
    # A refill rate this low means no token comes back during the test, however slow it runs.
    async with tight_server(test_services, tmp_path, ws_rate_per_s=0.0001, ws_rate_burst=5) as srv:
        _, token = await new_player(srv.state)
        ws, _ = await open_ws(srv.ws_url, token)
        for i in range(5):
            await ws.send(pack({"t": "ping", "rid": i}))
            assert (await recv(ws))["t"] == "pong"
        for i in range(5):
            await ws.send(pack({"t": "ping", "rid": 100 + i}))
            error = await recv(ws)
            assert (error["code"], error["rid"]) == ("rate_limited", 100 + i)
        await ws.send(pack({"t": "ping", "rid": 200}))
        frames, close_code, reason = await closed_with(ws)
        assert [f["code"] for f in frames] == ["rate_limited"]
        assert "rid" not in frames[0]  # the closing notice, not a reply
        assert close_code == 1008 and reason == "rate_limited"
        # Another player's bucket is their own.
        _, other_token = await new_player(srv.state)
        other, _ = await open_ws(srv.ws_url, other_token)
        async with other:
            await other.send(pack({"t": "ping", "rid": 1}))
            assert (await recv(other))["t"] == "pong"


async def test_idle_connection_is_closed_with_a_reason(
    test_services: support.TestServices, tmp_path: Path,
) -> None:
    async with tight_server(test_services, tmp_path, ws_idle_timeout_s=0.5) as srv:
        _, token = await new_player(srv.state)
        ws, _ = await open_ws(srv.ws_url, token)
        frames, close_code, reason = await closed_with(ws)
        assert [f["code"] for f in frames] == ["idle_timeout"]
        assert close_code == 1000 and reason == "idle_timeout"
        # A socket that never says hello is dropped too.
        silent = await connect(srv.ws_url)
        frames, close_code, _ = await closed_with(silent)
        assert [f["code"] for f in frames] == ["hello_timeout"] and close_code == 1008


async def test_connection_cap_refuses_with_1013(
    test_services: support.TestServices, tmp_path: Path,
) -> None:
    async with tight_server(test_services, tmp_path, ws_max_connections=3) as srv:
        sockets = []
        for _ in range(3):
            _, token = await new_player(srv.state)
            sockets.append((await open_ws(srv.ws_url, token))[0])
        refused = await connect(srv.ws_url)
        frames, close_code, reason = await closed_with(refused)
        assert [f["code"] for f in frames] == ["server_full"] and close_code == 1013
        assert reason == "server_full"
        for ws in sockets:
            await ws.send(pack({"t": "ping", "rid": 1}))
            assert (await recv(ws))["t"] == "pong"
        await sockets[0].close()
        hub = srv.state.extras["gateway_hub"]
        await eventually(lambda: hub.open_sockets == 2, what="the closed socket to leave the hub")
        _, token = await new_player(srv.state)
        ws, welcome = await open_ws(srv.ws_url, token)
        assert welcome["t"] == "welcome"
        for other in [*sockets[1:], ws]:
            await other.close()


def _tiny_buffer_socket(port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", port))
    sock.setblocking(False)
    return sock


async def test_a_client_that_stops_reading_is_closed_and_memory_stays_bounded(
    test_services: support.TestServices, tmp_path: Path,
) -> None:
    queue_max = 16
    async with tight_server(test_services, tmp_path, ws_send_queue_max=queue_max) as srv:
        hub = srv.state.extras["gateway_hub"]
        slow_user, slow_token = await new_player(srv.state)
        fast_user, fast_token = await new_player(srv.state)
        # The slow client never reads: a one-frame client queue and a tiny kernel buffer.
        # No compression: the pushed bytes must really travel.
        slow, _ = await open_ws(
            srv.ws_url, slow_token, sock=_tiny_buffer_socket(srv.port), max_queue=1,
            compression=None,
        )
        fast, _ = await open_ws(srv.ws_url, fast_token, compression=None)
        slow_conn = hub.connections_of(slow_user.id)[0]
        fast_conn = hub.connections_of(fast_user.id)[0]
        received = 0

        async def read_fast() -> None:
            nonlocal received
            while True:
                frame = await recv(fast)
                if frame["t"] == "blob":
                    received += 1

        reader = asyncio.create_task(read_fast())
        frame = {"t": "blob", "data": base64.b64encode(os.urandom(6144)).decode()}
        pushes = 0
        while pushes < 5000:  # at most ~40 MB offered; the close comes long before
            pushes += 1
            slow_conn.send(frame)
            fast_conn.send(frame)
            assert slow_conn.queued <= queue_max and fast_conn.queued <= queue_max
            # The fast client keeps up: it has this frame before the next one is offered
            # (meanwhile the slow connection's writer runs too, and stalls).
            await eventually(lambda offered=pushes: received == offered,
                             what=f"the fast client to read frame {pushes}")
            if slow_conn.closing:
                break
        assert slow_conn.closing, "the slow reader was never closed"
        assert slow_conn.queued <= 2  # its backlog was dropped: only the notice and the close
        assert not fast_conn.closing  # the reader that keeps up is still connected
        assert received == pushes
        reader.cancel()
        # Once the slow client reads again it sees what was in flight, then the reason.
        frames, close_code, reason = await closed_with(slow, timeout_s=30)
        assert frames[-1]["t"] == "error" and frames[-1]["code"] == "slow_consumer"
        assert len(frames) < pushes
        assert close_code == 4002 and reason == "slow_consumer"
        await fast.send(pack({"t": "ping", "rid": 1}))
        assert (await recv(fast))["t"] == "pong"
        await fast.close()
