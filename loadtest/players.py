"""Players for a load run, made through the server's public HTTP API with `matchpot_client`.

No server code is imported; the set-up is what a person would do:

1. A finance admin: `matchpot admin create <name> --role finance` (the CLI as a
   subprocess with the server's environment), then `POST /admin/login`. If the
   admin exists already the CLI fails and logging in says whether it is usable.
2. Each player logs in with a one-time code (`POST /auth/otp/request`, then
   `/auth/otp/verify`; the first login creates the player). The code is read
   from the server's log: the development `log` sender writes
   `login code for +2547*****123: 123456` (docs/api.md), so the server must run
   with `MATCHPOT_OTP_SENDER=log` (the default) at log level INFO, its output
   going to the file passed here. Codes are matched by the visible digits of
   the masked number, so numbers are logged in chunks of at most 1,000
   consecutive ones (distinct last three digits).
3. Funds: the player asks for a deposit with a reference derived from its number
   and the amount, and the admin approves it. The server makes both idempotent,
   so running the set-up twice funds nobody twice.

The server's OTP limits must allow it (`loadtest.serve.SETUP_ENV`:
`MATCHPOT_OTP_RESEND_INTERVAL_S=0`, `MATCHPOT_OTP_MAX_PER_HOUR=1000`), and its
access tokens must outlive the run (`MATCHPOT_JWT_ACCESS_TTL_S`).
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import httpx
from matchpot_client import MatchpotError
from matchpot_client.auth import AuthApi, Session
from matchpot_client.wallet import AdminApi, WalletApi

from loadtest.serve import matchpot

MAX_PLAYERS = 50_000
CHUNK = 500  # <= 1000 consecutive numbers: the last three digits tell them apart in the log
CONCURRENCY = 16
CODE_WAIT_S = 10.0
ADMIN_USERNAME = "loadtest-finance"
ADMIN_PASSWORD = "loadtest-finance-password"
ANSI_RE = re.compile(r"\x1b\[[0-9;]*m")
CODE_RE = re.compile(r"login code for \+?(\d+)\*+(\d{3}): (\d{4,10})")


@dataclass(frozen=True)
class Player:
    user_id: str
    phone: str
    token: str
    refresh_token: str | None

    def json_line(self) -> str:
        return json.dumps({"user_id": self.user_id, "phone": self.phone, "token": self.token,
                           "refresh_token": self.refresh_token})


class LogCodes:
    """Login codes the server's log sender wrote after this object was made."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = path.stat().st_size if path.exists() else 0
        self.codes: dict[tuple[str, str], str] = {}  # (visible head, last three) -> code

    @staticmethod
    def key(phone_e164: str) -> tuple[str, str]:
        digits = phone_e164.lstrip("+")
        return digits[:4], digits[-3:]

    def read(self) -> None:
        if not self.path.exists():
            return  # the server has not written anything yet
        with self.path.open("rb") as f:
            f.seek(self.offset)
            data = f.read()
        end = data.rfind(b"\n") + 1  # a line still being written is read next time
        self.offset += end
        for line in data[:end].decode("utf-8", "replace").splitlines():
            m = CODE_RE.search(ANSI_RE.sub("", line))
            if m:
                self.codes[(m.group(1)[:4], m.group(2))] = m.group(3)

    async def wait_for(self, phones: list[str], timeout_s: float = CODE_WAIT_S) -> dict[str, str]:
        """phone -> its code, once every phone has one in the log (or MatchpotError)."""
        deadline = time.monotonic() + timeout_s
        while True:
            self.read()
            missing = [p for p in phones if self.key(p) not in self.codes]
            if not missing:
                return {p: self.codes[self.key(p)] for p in phones}
            if time.monotonic() > deadline:
                raise MatchpotError(
                    "otp_code_not_logged",
                    f"No login code for {len(missing)} numbers (e.g. {missing[0]}) in "
                    f"{self.path}: run the server with MATCHPOT_OTP_SENDER=log and "
                    "MATCHPOT_LOG_LEVEL=INFO, its output to that file.",
                )
            await asyncio.sleep(0.05)


def ensure_admin(env: Mapping[str, str] | None, username: str, password: str) -> None:
    """`matchpot admin create` (finance); an admin of that name may already exist."""
    matchpot(["admin", "create", username, "--role", "finance", "--password", password], env)


async def create_players(
    base_url: str, server_log: Path, count: int, funds_minor: int, phone_prefix: str,
    out: Path, *, admin_username: str = ADMIN_USERNAME, admin_password: str = ADMIN_PASSWORD,
) -> list[Player]:
    """Log in (creating) `count` players, fund each once, write their tokens as JSON lines."""
    assert 1 <= count <= MAX_PLAYERS and funds_minor >= 0
    gate = asyncio.Semaphore(CONCURRENCY)
    players: list[Player] = []
    async with httpx.AsyncClient(base_url=base_url.rstrip("/"), timeout=30.0) as http:
        auth, wallet, admin = AuthApi(http), WalletApi(http), AdminApi(http)
        admin_token = await admin.login(admin_username, admin_password) if funds_minor else ""

        async def login(phone: str, code: str) -> Session:
            async with gate:
                return await auth.verify_otp(phone, code)

        async def ask(phone: str) -> None:
            async with gate:
                await auth.request_otp(phone)

        async def fund(phone: str, session: Session) -> None:
            async with gate:
                reference = f"loadtest-{phone.lstrip('+')}-{funds_minor}"
                deposit = await wallet.request_deposit(session.access_token, funds_minor, reference)
                if deposit.get("state") != "approved":
                    await admin.approve_deposit(admin_token, str(deposit["id"]))

        out.parent.mkdir(parents=True, exist_ok=True)
        with out.open("w", encoding="utf-8") as f:
            for start in range(0, count, CHUNK):
                phones = [f"{phone_prefix}{i:06d}" for i in range(start, min(count, start + CHUNK))]
                codes = LogCodes(server_log)
                await asyncio.gather(*(ask(p) for p in phones))
                by_phone = await codes.wait_for(phones)
                sessions = await asyncio.gather(*(login(p, by_phone[p]) for p in phones))
                if funds_minor:
                    await asyncio.gather(*(fund(p, s) for p, s in zip(phones, sessions,
                                                                       strict=True)))
                for phone, s in zip(phones, sessions, strict=True):
                    player = Player(str(s.user["id"]), phone, s.access_token, s.refresh_token)
                    players.append(player)
                    f.write(player.json_line() + "\n")
    return players
