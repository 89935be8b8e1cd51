"""Who may start, reuse and stop the embedded services of one data dir.

Several processes (two nodes, a `matchpot migrate`, a restart after `kill -9`)
may point at the same data dir. They must end up on one Postgres and one Redis:
two redis-servers on one AOF file corrupt it, and nodes on different Redis
servers never pair their players. So:

- `services.lock` is an `fcntl.flock` lock held while a process looks for,
  starts or stops the services. The kernel drops it when its holder dies, so
  a killed process never leaves it stale.
- `users/<pid>-<random>.lock` is one file per user of the services, flocked
  for as long as that user runs. A file nobody holds belongs to a dead process.
  The last user out (no other file held) stops the services; see `Services.stop`.
- `services.json` records the pids, ports and URLs last found or started, for
  people and tools (`matchpot services status`). Discovery itself trusts the
  services' own pid files (`postmaster.pid`, `redis/redis.pid`), which cannot
  lag behind a process killed between starting a service and recording it.

POSIX only (fcntl): the embedded binaries are too.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import signal
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

LOCK_FILE = "services.lock"
STATE_FILE = "services.json"
USERS_DIR = "users"
LOCK_POLL_S = 0.05
STOP_TIMEOUT_S = 10.0  # a graceful stop; after it, SIGKILL


class EmbeddedError(RuntimeError):
    """An embedded service failed to start or stop; the message says what to look at."""


@contextlib.contextmanager
def data_dir_lock(data_dir: Path, timeout_s: float) -> Iterator[None]:
    """Hold `services.lock` exclusively; wait at most `timeout_s` for another holder.

    The holder writes its pid into the file so a refusal can name who is busy.
    """
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / LOCK_FILE
    with open(path, "a+") as fh:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    fh.seek(0)
                    holder = fh.read().strip() or "unknown"
                    raise EmbeddedError(
                        f"another process (pid {holder}) has been starting or stopping the "
                        f"embedded services of {data_dir} for over {timeout_s:.0f} s; "
                        f"it holds {path}. Wait for it, or stop it."
                    ) from None
                time.sleep(LOCK_POLL_S)
        try:
            fh.seek(0)
            fh.truncate()
            fh.write(str(os.getpid()))
            fh.flush()
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


@dataclass
class UserLease:
    """This process's claim on the services: an flock held until `release`."""

    path: Path
    fh: IO[str] | None

    def release(self) -> None:
        """Drop the claim (idempotent). Call it under `data_dir_lock`."""
        if self.fh is None:
            return
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        self.fh.close()  # closing drops the flock
        self.fh = None


def register_user(data_dir: Path) -> UserLease:
    """Record one more user of the services. Call it under `data_dir_lock`."""
    users = data_dir / USERS_DIR
    users.mkdir(parents=True, exist_ok=True)
    path = users / f"{os.getpid()}-{uuid.uuid4().hex[:8]}.lock"
    fh = open(path, "w")  # kept open: the open file holds the flock
    fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
    fh.write(str(os.getpid()))
    fh.flush()
    return UserLease(path, fh)


def live_users(data_dir: Path) -> list[int]:
    """Pids of the processes using the services; files left by dead ones are removed.

    Call it under `data_dir_lock`, so no user registers or leaves meanwhile.
    A file is live when its flock is held (by another process, or by another
    lease of this one).
    """
    pids: list[int] = []
    users = data_dir / USERS_DIR
    if not users.is_dir():
        return pids
    for path in sorted(users.glob("*.lock")):
        try:
            fh = open(path)  # closed by the with below
        except FileNotFoundError:
            continue
        with fh:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                pids.append(int(path.name.split("-", 1)[0]))
                continue
            path.unlink(missing_ok=True)  # its process died without releasing
    return pids


def read_state(data_dir: Path) -> dict[str, Any]:
    """The last recorded pids, ports and URLs (empty if none or unreadable)."""
    try:
        value = json.loads((data_dir / STATE_FILE).read_text())
    except (FileNotFoundError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def write_state(data_dir: Path, state: dict[str, Any]) -> None:
    """Replace the state file atomically, so a reader never sees half of it."""
    tmp = data_dir / (STATE_FILE + ".tmp")
    tmp.write_text(json.dumps(state, indent=2, sort_keys=True) + "\n")
    tmp.replace(data_dir / STATE_FILE)


def clear_state(data_dir: Path) -> None:
    (data_dir / STATE_FILE).unlink(missing_ok=True)


def pid_alive(pid: int) -> bool:
    """True if `pid` runs; a zombie (killed, not yet reaped) counts as gone."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    with contextlib.suppress(OSError):
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rpartition(")")[2].split()[0] != "Z"
    return True


def pid_runs_in(pid: int, directory: Path) -> bool:
    """True if `pid` is alive with `directory` as its working directory.

    Postgres and redis-server both chdir into their data directory, so this
    tells our service from an unrelated process that reused a recorded pid.
    Without /proc (not Linux) it falls back to "alive".
    """
    if not pid_alive(pid):
        return False
    if not Path("/proc/self/cwd").exists():
        return True
    try:
        return Path(os.readlink(f"/proc/{pid}/cwd")) == directory.resolve()
    except OSError:
        return False


def wait_gone(pid: int, timeout_s: float) -> bool:
    """Wait (bounded) for `pid` to exit; True if it did."""
    deadline = time.monotonic() + timeout_s
    while pid_alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(LOCK_POLL_S)
    return True


def terminate_pid(pid: int, timeout_s: float = STOP_TIMEOUT_S) -> None:
    """SIGTERM (and SIGCONT, in case it is stopped), then SIGKILL if it lingers."""
    for sig in (signal.SIGTERM, signal.SIGCONT):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)
    if wait_gone(pid, timeout_s):
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    if not wait_gone(pid, timeout_s):
        raise EmbeddedError(f"process {pid} did not exit after SIGKILL")
