"""A Matchpot server as a subprocess for the load scripts: the `matchpot` CLI, never an import.

    proc = start(env, log_path, port)       # `matchpot serve`, stderr and stdout to log_path
    wait_ready(port, proc)
    ...
    stop(proc)

`matchpot(...)` runs another CLI command (e.g. `admin create`) with the same
environment. Everything the load scripts know about the server comes from its
documented settings (README), its HTTP API and the websocket protocol.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parent.parent
MATCHPOT = [sys.executable, "-m", "server"]  # the `matchpot` console script, from this checkout
# For players set up through the HTTP login (loadtest/players.py): codes in the log at INFO,
# no resend interval, many codes per number, tokens that outlive a long run.
SETUP_ENV = {
    "MATCHPOT_OTP_SENDER": "log", "MATCHPOT_LOG_LEVEL": "INFO", "MATCHPOT_LOG_FORMAT": "json",
    "MATCHPOT_OTP_RESEND_INTERVAL_S": "0", "MATCHPOT_OTP_MAX_PER_HOUR": "1000",
    "MATCHPOT_OTP_IP_MAX": "100000",  # every player logs in from 127.0.0.1
    "MATCHPOT_JWT_ACCESS_TTL_S": str(8 * 3600),
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start(
    env: Mapping[str, str], log: Path, port: int, *,
    preexec_fn: Callable[[], None] | None = None,
) -> subprocess.Popen[bytes]:
    """`matchpot serve` on 127.0.0.1:`port`, its output appended to `log`."""
    with log.open("ab") as out:
        return subprocess.Popen(
            [*MATCHPOT, "serve", "--host", "127.0.0.1", "--port", str(port)], cwd=REPO,
            env=dict(env), preexec_fn=preexec_fn, stdout=out, stderr=subprocess.STDOUT,
        )


def wait_ready(port: int, proc: subprocess.Popen[bytes], timeout_s: float = 60) -> None:
    """Until `GET /readyz` answers 200 (Postgres and Redis reachable, migrations applied)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the server exited during start-up ({proc.returncode})")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                return
        time.sleep(0.2)
    raise RuntimeError("the server did not become ready in time")


def stop(proc: subprocess.Popen[bytes], timeout_s: float = 60) -> int | None:
    """SIGTERM (the server drains), then SIGKILL after `timeout_s`; the exit status."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
    return proc.returncode


def matchpot(args: list[str], env: Mapping[str, str] | None = None,
             timeout_s: float = 120) -> subprocess.CompletedProcess[str]:
    """Run `matchpot <args>` (e.g. `admin create ...`) with the server's environment."""
    return subprocess.run(
        [*MATCHPOT, *args], cwd=REPO, env=dict(env if env is not None else os.environ),
        capture_output=True, text=True, timeout=timeout_s, check=False,
    )
