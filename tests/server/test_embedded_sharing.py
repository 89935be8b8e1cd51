"""One data dir, one Postgres, one Redis: across restarts after kill -9 and across nodes.

These tests run real `matchpot serve` processes in embedded mode (no
DATABASE_URL / REDIS_URL) on a temporary data dir, and count the services by
the directory they run in (Postgres and redis-server chdir into their data
directories). They are skipped when the run uses external servers.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from matchpot_client.play import PlayClient

from ledger import Ledger
from server.db import create_pool
from server.embedded import EmbeddedError, start_services, stop_embedded
from server.embedded_lock import data_dir_lock, read_state
from tests.play.helpers import STAKE_MINOR, funded_client
from tests.support import REPO, ServerProcess, free_port

pytestmark = pytest.mark.skipif(
    bool(os.environ.get("DATABASE_URL") or os.environ.get("REDIS_URL")),
    reason="about embedded services; this run uses external ones",
)

JWT_SECRET = "test-secret-" + "x" * 32


def _service_pids(directory: Path) -> list[int]:
    """Live processes running in `directory` whose parent does not (a service, not its workers)."""
    target = directory.resolve()
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            if Path(os.readlink(entry / "cwd")) != target:
                continue
            fields = (entry / "stat").read_text().rpartition(")")[2].split()
            if fields[0] != "Z":
                parents[int(entry.name)] = int(fields[1])
    return sorted(pid for pid, ppid in parents.items() if ppid not in parents)


def running(data_dir: Path) -> tuple[list[int], list[int]]:
    """(postmaster pids, redis-server pids) running for `data_dir`."""
    return _service_pids(data_dir / "pgdata"), _service_pids(data_dir / "redis")


def recorded(data_dir: Path) -> tuple[list[int], list[int]]:
    state = read_state(data_dir)
    return [state["postgres"]["pid"]], [state["redis"]["pid"]]


def pg_port_from_postmaster(data_dir: Path) -> int:
    return int((data_dir / "pgdata" / "postmaster.pid").read_text().splitlines()[3])


@pytest.fixture
def embedded_dir(tmp_path: Path) -> Iterator[Path]:
    """A fresh data dir; whatever still runs on it afterwards is stopped (no leaks)."""
    data_dir = tmp_path / "data"
    yield data_dir
    if data_dir.exists():
        stop_embedded(data_dir, force=True)
    assert running(data_dir) == ([], [])


def embedded_env(data_dir: Path, node: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env.update(
        MATCHPOT_DATA_DIR=str(data_dir), MATCHPOT_JWT_SECRET=JWT_SECRET,
        MATCHPOT_LOG_LEVEL="WARNING", MATCHPOT_NODE_ID=node, MATCHPOT_DRAIN_TIMEOUT_S="1",
    )
    return env


def serve(data_dir: Path, node: str) -> ServerProcess:
    port = free_port()
    env = embedded_env(data_dir, node)
    env["MATCHPOT_PUBLIC_URL"] = f"http://127.0.0.1:{port}"
    return ServerProcess(env, port)


async def test_restart_after_kill_9_adopts_the_orphaned_services(embedded_dir: Path) -> None:
    first = serve(embedded_dir, "node-1")
    try:
        await first.wait_ready()
    finally:
        first.kill()
    before = recorded(embedded_dir)
    assert running(embedded_dir) == before  # the orphans of the killed node still run

    second = serve(embedded_dir, "node-2")
    try:
        await second.wait_ready()
        assert running(embedded_dir) == before  # adopted: no second Postgres or Redis
        assert read_state(embedded_dir)["postgres"]["port"] == pg_port_from_postmaster(
            embedded_dir) == int((embedded_dir / "pg.port").read_text())
    finally:
        second.terminate()
    assert running(embedded_dir) == ([], [])  # the last user out stopped them


async def test_two_nodes_on_one_data_dir_share_services_and_pair_players(
    embedded_dir: Path,
) -> None:
    nodes = [serve(embedded_dir, "node-a"), serve(embedded_dir, "node-b")]  # racing to start
    clients: list[PlayClient] = []
    try:
        await asyncio.gather(*(node.wait_ready() for node in nodes))
        assert running(embedded_dir) == recorded(embedded_dir)
        assert all(len(pids) == 1 for pids in running(embedded_dir))

        # A player on each node: they can only pair if both nodes see one Redis queue.
        pool = await create_pool(
            read_state(embedded_dir)["postgres"]["url"], min_size=1, max_size=2)
        try:
            state = SimpleNamespace(
                pool=pool, ledger=Ledger(pool), jwt_secret=JWT_SECRET,
                settings=SimpleNamespace(currency="KES"),
            )
            for node in nodes:
                _, client = await funded_client(SimpleNamespace(state=state, **_vars(node)))
                clients.append(client)
            for client in clients:
                await client.request("queue_join", game="quiz", stake_minor=STAKE_MINOR)
            founds = [await c.next_event("match_found", timeout=15) for c in clients]
            assert founds[0]["room_id"] == founds[1]["room_id"]
        finally:
            for client in clients:
                await client.close()
            await pool.close()

        nodes[0].terminate()
        assert running(embedded_dir) == recorded(embedded_dir)  # node b still uses them
        async with httpx.AsyncClient() as http:
            assert (await http.get(nodes[1].base_url + "/readyz")).status_code == 200
        nodes[1].terminate()
        assert running(embedded_dir) == ([], [])
    finally:
        for node in nodes:
            node.terminate()


def test_a_stuck_orphan_redis_is_replaced_and_ports_stay_true(embedded_dir: Path) -> None:
    # A process that starts the services and dies by SIGKILL, leaving them orphaned.
    crash = (
        "import os, signal, sys; from pathlib import Path; "
        "from server.embedded import start_services; "
        "start_services(None, None, Path(sys.argv[1])); os.kill(os.getpid(), signal.SIGKILL)"
    )
    proc = subprocess.run([sys.executable, "-c", crash, str(embedded_dir)], cwd=REPO,
                          capture_output=True, timeout=180)
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-2000:]
    (pg_pid,), (stuck_redis,) = recorded(embedded_dir)
    os.kill(stuck_redis, signal.SIGSTOP)  # alive, holds its port, answers nothing

    services = start_services(None, None, embedded_dir)
    try:
        pgs, redises = running(embedded_dir)
        assert pgs == [pg_pid]  # Postgres answered: reused
        assert len(redises) == 1 and redises != [stuck_redis]
        assert recorded(embedded_dir) == (pgs, redises)
        assert services.database_url.endswith(f":{pg_port_from_postmaster(embedded_dir)}/postgres")
        assert int((embedded_dir / "pg.port").read_text()) == pg_port_from_postmaster(embedded_dir)
        assert services.redis_url == read_state(embedded_dir)["redis"]["url"]
    finally:
        services.stop()
    assert running(embedded_dir) == ([], [])


def test_a_busy_lock_is_refused_with_a_clear_error(tmp_path: Path) -> None:
    with data_dir_lock(tmp_path, 1.0), pytest.raises(EmbeddedError, match=f"pid {os.getpid()}"):
        with data_dir_lock(tmp_path, 0.1):
            pass


def _vars(node: ServerProcess) -> dict[str, Any]:
    return {"base_url": node.base_url, "ws_url": node.ws_url}
