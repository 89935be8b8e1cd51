"""A node dies mid-duel (SIGKILL): a surviving node voids the stakes of its rooms, once."""

from __future__ import annotations

from typing import Any

from matchpot_client.play import PlayClient

from tests.play.helpers import STAKE_MINOR, available, funded_client
from tests.support import ServerProcess, TestServices, free_port
from tests.waiting import eventually


class _Node:
    def __init__(self, proc: ServerProcess, state: Any) -> None:
        self.proc = proc
        self.base_url = proc.base_url
        self.ws_url = proc.ws_url
        self.state = state  # the test's own app state: same database, for funding and reads


async def test_stakes_of_a_killed_nodes_room_come_back(
    test_services: TestServices, tmp_path: Any, server: Any
) -> None:
    prefix = f"{test_services.redis_prefix}k{free_port()}"
    nodes: list[_Node] = []
    for name in ("a", "b"):
        port = free_port()
        env = test_services.env(
            tmp_path / name, MATCHPOT_NODE_ID=f"node-{name}-{port}", MATCHPOT_REDIS_PREFIX=prefix,
            MATCHPOT_NODE_HEARTBEAT_S="0.5", MATCHPOT_QUIZ_COUNTDOWN_MS="300",
            MATCHPOT_QUIZ_ANSWER_WINDOW_MS="20000", MATCHPOT_PUBLIC_URL=f"http://127.0.0.1:{port}",
        )
        proc = ServerProcess(env, port)
        nodes.append(_Node(proc, server.state))
    clients: list[PlayClient] = []
    try:
        for node in nodes:
            await node.proc.wait_ready()
        ids = []
        for _ in range(2):
            uid, client = await funded_client(nodes[0])
            ids.append(uid)
            clients.append(client)
        # A client moves between nodes on one session: the old socket is replaced, not retried.
        welcome = await clients[0].move_to(nodes[1].ws_url)
        assert welcome["t"] == "welcome" and clients[0].ws_url == nodes[1].ws_url
        assert welcome["node"].startswith("node-b-")
        assert (await clients[0].request("ping"))["t"] == "pong"
        await clients[0].move_to(nodes[0].ws_url)
        for client in clients:
            await client.request("queue_join", game="quiz", stake_minor=STAKE_MINOR)
        founds = [await c.next_event("match_found", timeout=10) for c in clients]
        host = next(n for n in nodes if n.base_url == founds[0]["node_url"])
        survivor = next(n for n in nodes if n is not host)
        for client, found in zip(clients, founds, strict=True):
            # Players connected to node a; the room may be on node b: the client moves there.
            await client.take_seat(found)
            assert client.ws_url == found["ws_url"] == host.ws_url
        await clients[0].next_event("quiz_question", timeout=10)
        for uid in ids:
            assert await available(nodes[0], uid) == 100_000 - STAKE_MINOR
        host.proc.kill()
        # The survivor notices the missing heartbeat and voids both holds.

        async def both_refunded() -> bool:
            return all([await available(survivor, uid) == 100_000 for uid in ids])

        await eventually(both_refunded, timeout_s=30, what="the survivor to void both holds")
        for uid in ids:
            assert await available(survivor, uid) == 100_000
        row = await server.state.pool.fetchrow(
            "SELECT result, winner FROM duels WHERE room_id = $1", founds[0]["room_id"])
        assert row["result"] == "aborted" and row["winner"] is None
    finally:
        for client in clients:
            await client.close()
        for node in nodes:
            node.proc.terminate()
