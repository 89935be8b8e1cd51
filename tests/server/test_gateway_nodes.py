"""Two server nodes sharing Postgres and Redis: pushes and the newest-wins rule cross nodes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests import support
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
from tests.support import LiveServer, run_server

pytestmark = pytest.mark.usefixtures("ledger")


@pytest.fixture(scope="module")
async def node_b(
    test_services: support.TestServices, tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[LiveServer]:
    """A second node: its own app, pool and pub/sub connection, the same database and Redis."""
    data_dir: Path = tmp_path_factory.mktemp("node_b")
    settings = test_services.settings(data_dir, node_id="node-b")
    async with run_server(settings, test_services.services_for_run()) as live:
        yield live


async def test_balance_reaches_a_socket_on_another_node(server: Any, node_b: Any) -> None:
    user, token = await new_player(server.state)
    ws, welcome = await open_ws(server.ws_url, token)
    async with ws:
        assert welcome["node"] != "node-b"
        await deposit(node_b.state, user.id, 7_000, new_cause())  # committed by node B
        pushed = await recv_type(ws, "balance")
        assert pushed["balances"][0]["available_minor"] == 7_000


async def test_connecting_on_another_node_replaces_the_older_socket(
    server: Any, node_b: Any,
) -> None:
    user, token = await new_player(server.state)
    first, _ = await open_ws(server.ws_url, token)
    second, welcome = await open_ws(node_b.ws_url, token)
    async with second:
        assert welcome["node"] == "node-b"
        frames, close_code, reason = await closed_with(first)
        assert [f["code"] for f in frames if f["t"] == "error"] == ["replaced"]
        assert (close_code, reason) == (4001, "replaced")
        await second.send(pack({"t": "ping", "rid": 1}))
        assert (await recv(second))["t"] == "pong"
        await deposit(server.state, user.id, 300, new_cause())  # committed by node A
        assert (await recv_type(second, "balance"))["balances"][0]["available_minor"] == 300
