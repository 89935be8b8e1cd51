"""Test support: real services (embedded or from the environment) and a live server."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from server.config import Settings
from server.embedded import Services, start_services
from tests.waiting import eventually

REPO = Path(__file__).resolve().parent.parent
SHUTDOWN_MARGIN_S = 45.0  # run_server: what stopping may take beyond the rooms' drain
STACK_FRAMES = 12


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _with_database(url: str, name: str) -> str:
    base, _, _query = url.partition("?")
    head, _, _db = base.rpartition("/")
    return f"{head}/{name}"


@dataclass
class TestServices:
    """Services for one test run: a fresh database and a fresh Redis key prefix."""

    __test__ = False  # a helper, not a test class

    services: Services
    database_url: str
    redis_url: str
    redis_prefix: str
    admin_url: str
    database_name: str

    def services_for_run(self) -> Services:
        """The run's database and Redis as a Services the app will not try to stop."""
        return Services(self.database_url, self.redis_url)

    def settings(self, data_dir: Path, **overrides: Any) -> Settings:
        values: dict[str, Any] = dict(
            database_url=self.database_url, redis_url=self.redis_url,
            redis_prefix=self.redis_prefix, data_dir=data_dir, jwt_secret="test-secret-" + "x" * 32,
            log_format="console", log_level="WARNING", hold_sweep_interval_s=0.5,
            otp_ip_max=100_000,  # every test logs in from 127.0.0.1
            # Every live server of the session is its own node: the servers share one process
            # (so the default hostname-pid id) and one database, and a node's schedulers act on
            # the rows it owns (tournaments, rooms to reap) by that id.
            node_id=f"test-{uuid.uuid4().hex[:10]}",
        )
        values.update(overrides)
        return Settings(**values)

    def env(self, data_dir: Path, **overrides: str) -> dict[str, str]:
        """Environment for a server subprocess using the same database and prefix."""
        env = dict(os.environ)
        env.update(
            DATABASE_URL=self.database_url, REDIS_URL=self.redis_url,
            MATCHPOT_REDIS_PREFIX=self.redis_prefix, MATCHPOT_DATA_DIR=str(data_dir),
            MATCHPOT_JWT_SECRET="test-secret-" + "x" * 32, MATCHPOT_LOG_LEVEL="WARNING",
            MATCHPOT_OTP_IP_MAX="100000",
        )
        env.update(overrides)
        return env


def start_test_services(tmp: Path) -> TestServices:
    """Use DATABASE_URL/REDIS_URL if set, else embedded; then make a fresh database."""
    services = start_services(os.environ.get("DATABASE_URL"), os.environ.get("REDIS_URL"), tmp)
    name = f"mp_test_{uuid.uuid4().hex[:12]}"

    async def create() -> None:
        conn = await asyncpg.connect(services.database_url)
        try:
            await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()

    asyncio.run(create())
    return TestServices(
        services=services, database_url=_with_database(services.database_url, name),
        redis_url=services.redis_url, redis_prefix=f"mpt{uuid.uuid4().hex[:8]}",
        admin_url=services.database_url, database_name=name,
    )


def stop_test_services(ts: TestServices) -> None:
    """Drop the run's database and Redis keys, then stop what was embedded."""

    async def clean() -> None:
        conn = await asyncpg.connect(ts.admin_url)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{ts.database_name}" WITH (FORCE)')
        finally:
            await conn.close()
        from redis.asyncio import Redis

        r = Redis.from_url(ts.redis_url)
        try:
            batch: list[bytes] = []
            async for key in r.scan_iter(match=f"{ts.redis_prefix}*", count=1000):
                batch.append(key)
                if len(batch) >= 1000:
                    await r.delete(*batch)
                    batch.clear()
            if batch:
                await r.delete(*batch)
        finally:
            await r.aclose()

    try:
        asyncio.run(clean())
    finally:
        ts.services.stop()


@dataclass
class LiveServer:
    """A server running in the test's event loop on a loopback port."""

    base_url: str
    ws_url: str
    app: Any
    port: int

    @property
    def state(self) -> Any:
        return self.app.state.mp

    def http(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.base_url, timeout=10)


@contextlib.asynccontextmanager
async def run_server(
    settings: Settings, services: Services, *, clock: Any = None, port: int | None = None
) -> AsyncIterator[LiveServer]:
    """Start uvicorn on `port` (default: a free one) with the real app; stop it on exit. With
    `clock` (a rooms.clock.ManualClock), room and matchmaking time moves only when the test
    says."""
    import uvicorn

    from server.app import create_app

    port = port or free_port()
    settings = settings.model_copy(update={"port": port, "host": "127.0.0.1"})
    app = create_app(settings, services, clock=clock)
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_level="warning", lifespan="on",
        ws="websockets-sansio", ws_max_size=settings.ws_max_frame_bytes,
        ws_ping_interval=None, access_log=False,
    )
    server = uvicorn.Server(config)
    server.install_signal_handlers = lambda: None  # type: ignore[method-assign]
    task = asyncio.create_task(server.serve())

    def started() -> bool:
        if task.done():
            task.result()
            raise RuntimeError("server exited during start-up")
        return bool(server.started)

    await eventually(started, timeout_s=30, what="the test server to start")
    try:
        yield LiveServer(f"http://127.0.0.1:{port}", f"ws://127.0.0.1:{port}/ws", app, port)
    finally:
        server.should_exit = True
        # Shutting down lets live rooms finish for up to the drain timeout first (a test
        # that ends mid-duel, e.g. against the demo bot), then stops everything else.
        try:
            await asyncio.wait_for(task, settings.drain_timeout_s + SHUTDOWN_MARGIN_S)
        except TimeoutError:
            _print_task_stacks("the test server did not stop in time")
            raise
        # A task that outlived its cancellation is logged by the server with its stack
        # (`background_task_did_not_stop`) and left behind, bounded; say so here too.
        if stuck := getattr(app.state, "stuck_tasks", []):
            print(f"--- background tasks outlived their cancellation: {stuck}", file=sys.stderr)


def _print_task_stacks(why: str) -> None:
    """Where every task of this loop is suspended: what a shutdown that hangs waits on."""
    print(f"--- {why}; the loop's tasks:", file=sys.stderr)
    for other in asyncio.all_tasks():
        other.print_stack(limit=STACK_FRAMES, file=sys.stderr)


class ServerProcess:
    """A `matchpot serve` subprocess, for crash and multi-node tests."""

    def __init__(self, env: dict[str, str], port: int) -> None:
        self.port = port
        self.base_url = f"http://127.0.0.1:{port}"
        self.ws_url = f"ws://127.0.0.1:{port}/ws"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "server", "serve", "--port", str(port)],
            env=env, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )

    async def wait_ready(self, timeout_s: float = 60) -> None:
        async with httpx.AsyncClient() as client:

            async def ready() -> bool:
                if self.proc.poll() is not None:
                    err = self.proc.stderr.read().decode() if self.proc.stderr else ""
                    raise RuntimeError(f"server process exited: {err[-2000:]}")
                with contextlib.suppress(httpx.HTTPError):
                    return (await client.get(self.base_url + "/readyz")).status_code == 200
                return False

            await eventually(ready, timeout_s=timeout_s, what=f"{self.base_url}/readyz to be 200")

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait(10)

    def terminate(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(40)
        except subprocess.TimeoutExpired:
            self.proc.kill()


async def house_gain(pool: Any, meta_key: str, meta_value: str) -> int:
    """The house's net gain from the posted transfers whose meta has `meta_key: meta_value`
    (a room's rake, a ticket's bonus). Tests read their own part: the house's total also
    moves with the background work of the session's other live servers."""
    return int(await pool.fetchval(
        "SELECT coalesce(sum(CASE WHEN c.owner = 'house' THEN t.amount_minor"
        " ELSE -t.amount_minor END), 0)"
        " FROM transfers t JOIN accounts d ON d.id = t.debit_account_id"
        " JOIN accounts c ON c.id = t.credit_account_id"
        " WHERE t.kind IN ('single', 'post') AND 'house' IN (d.owner, c.owner)"
        " AND t.meta->>$1 = $2", meta_key, meta_value))
