"""Admins watch live rooms; a node told to stop lets duels finish or voids their stakes."""

from __future__ import annotations

import json
import os
import signal
import uuid
from typing import Any

import httpx
from matchpot_client import MatchpotClient
from matchpot_client.errors import MatchpotError
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from server.admin.accounts import create_admin
from tests.play.helpers import STAKE_MINOR, available, funded_client
from tests.server.gateway_helpers import new_player
from tests.support import ServerProcess, TestServices, free_port
from tests.waiting import eventually


async def _paired(server: Any, stake_minor: int) -> tuple[str, list[Any], list[str]]:
    clients, ids = [], []
    for _ in range(2):
        uid, client = await funded_client(server)
        clients.append(client)
        ids.append(uid)
    for client in clients:
        await client.request("queue_join", game="quiz", stake_minor=stake_minor)
    founds = [await c.next_event("match_found", timeout=10) for c in clients]
    return founds[0]["room_id"], clients, [f["seat_token"] for f in founds]


async def _admin_token(server: Any) -> str:
    name = "adm" + uuid.uuid4().hex[:8]
    await create_admin(server.state.pool, name, "correct horse battery", "viewer")
    async with server.http() as http:
        r = await http.post("/admin/login", json={"username": name,
                                                  "password": "correct horse battery"})
        assert r.status_code == 200, r.text
        return str(r.json()["access_token"])


async def test_admin_lists_and_spectates_a_live_room_without_seeing_answers(
    play_server: Any,
) -> None:
    room_id, clients, tokens = await _paired(play_server, STAKE_MINOR)
    token = await _admin_token(play_server)
    try:
        async with play_server.http() as http:
            listed = await http.get("/admin/rooms", headers={"authorization": f"Bearer {token}"})
            assert listed.status_code == 200
            assert room_id in [r["room_id"] for r in listed.json()["items"]]
            _, player_token = await new_player(play_server.state)
            refused = await http.get("/admin/rooms",
                                     headers={"authorization": f"Bearer {player_token}"})
            assert refused.status_code in (401, 403)
        ws_url = play_server.ws_url.replace("/ws", "/admin/ws")
        async with connect(ws_url) as ws:
            await ws.send(json.dumps({"t": "hello", "token": token}))
            assert json.loads(await ws.recv())["t"] == "welcome"
            await ws.send(json.dumps({"t": "spectate", "room_id": room_id}))
            first = json.loads(await ws.recv())
            assert first["t"] == "room_state" and first["spectator"] is True
            for client, seat in zip(clients, tokens, strict=True):
                await client.request("room_join", room_id=room_id, seat_token=seat)
            seen: list[dict[str, Any]] = []
            while not any(f["t"] == "quiz_reveal" for f in seen):
                seen.append(json.loads(await ws.recv()))
            question = next(f for f in seen if f["t"] == "quiz_question")
            assert "answer_index" not in question
        # A player's token cannot open the admin socket.
        async with connect(ws_url) as ws:
            await ws.send(json.dumps({"t": "hello", "token": player_token}))
            try:
                while True:
                    await ws.recv()
            except ConnectionClosed:
                pass
            assert ws.close_code == 1008
    finally:
        for client in clients:
            await client.close()


async def _sigterm_mid_duel(test_services: TestServices, tmp_path: Any, drain_s: str) -> Any:
    port = free_port()
    env = test_services.env(
        tmp_path, MATCHPOT_QUIZ_COUNTDOWN_MS="300", MATCHPOT_QUIZ_ANSWER_WINDOW_MS="5000",
        MATCHPOT_QUIZ_REVEAL_MS="200", MATCHPOT_DRAIN_TIMEOUT_S=drain_s,
        MATCHPOT_NODE_ID=f"drain-{port}",
        # Its own queues: the in-test server must not pair (and host) these players.
        MATCHPOT_REDIS_PREFIX=f"{test_services.redis_prefix}d{port}",
    )
    proc = ServerProcess(env, port)
    await proc.wait_ready()
    return proc


class _Live:
    """Enough of LiveServer for the helpers, pointing at a subprocess server."""

    def __init__(self, proc: ServerProcess, state: Any) -> None:
        self.base_url = proc.base_url
        self.ws_url = proc.ws_url
        self.state = state


async def test_sigterm_lets_a_live_duel_finish_and_refuses_new_queues(
    test_services: TestServices, tmp_path: Any, server: Any
) -> None:
    proc = await _sigterm_mid_duel(test_services, tmp_path, "20")
    live = _Live(proc, server.state)  # same database: the test's own state reads balances
    try:
        room_id, clients, tokens = await _paired(live, STAKE_MINOR)
        for client, seat in zip(clients, tokens, strict=True):
            await client.request("room_join", room_id=room_id, seat_token=seat)
        await clients[0].next_event("quiz_question", timeout=10)
        _, late = await funded_client(live)
        os.kill(proc.proc.pid, signal.SIGTERM)
        async with httpx.AsyncClient(base_url=proc.base_url) as http:

            async def draining() -> bool:
                return (await http.get("/readyz")).status_code == 503

            await eventually(draining, what="the node to say it is draining")
        try:
            await late.request("queue_join", game="quiz", stake_minor=STAKE_MINOR)
            raise AssertionError("a draining node must refuse new queues")
        except MatchpotError as exc:
            assert exc.code == "node_draining"
        await late.close()
        result = await clients[0].next_event("quiz_result", timeout=30)
        assert result["room_id"] == room_id
        assert proc.proc.wait(30) == 0
        for client in clients:
            await client.close()
    finally:
        proc.terminate()


async def test_sigterm_past_the_drain_window_voids_the_stakes(
    test_services: TestServices, tmp_path: Any, server: Any
) -> None:
    proc = await _sigterm_mid_duel(test_services, tmp_path, "0.5")
    live = _Live(proc, server.state)
    try:
        room_id, clients, tokens = await _paired(live, STAKE_MINOR)
        ids = [c.welcome["user"]["id"] for c in clients]
        for client, seat in zip(clients, tokens, strict=True):
            await client.request("room_join", room_id=room_id, seat_token=seat)
        await clients[0].next_event("quiz_question", timeout=10)
        os.kill(proc.proc.pid, signal.SIGTERM)
        aborted = await clients[0].next_event("room_aborted", timeout=20)
        assert aborted["reason"] == "node_shutdown" and aborted["refunded"] is True
        assert proc.proc.wait(30) == 0
        for uid in ids:
            assert await available(live, uid) == 100_000
        for client in clients:
            await client.close()
    finally:
        proc.terminate()


__all__ = ["MatchpotClient"]
