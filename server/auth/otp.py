"""One-time login codes: 6 digits, stored as an HMAC, short-lived, few tries,
rate-limited resends. The clock is injected so tests can move time.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import secrets
import time
from collections.abc import Callable
from datetime import UTC, datetime

import asyncpg

from server.errors import MatchpotError

CODE_DIGITS = 6
HOUR_S = 3600


class OtpError(MatchpotError):
    """A refused request or verification. `code` is stable; `retry_after_s` says when to retry."""

    def __init__(self, status: int, code: str, msg: str, retry_after_s: int | None = None) -> None:
        super().__init__(code, msg, status)
        self.retry_after_s = retry_after_s


def _ts(epoch_s: float) -> datetime:
    return datetime.fromtimestamp(epoch_s, UTC)


class OtpService:
    """Issues and checks login codes. Sending is the caller's job (after commit)."""

    def __init__(
        self, pool: asyncpg.Pool, key: bytes, *, ttl_s: int, max_attempts: int,
        resend_interval_s: int, max_per_hour: int,
        clock: Callable[[], float] = time.time,
    ) -> None:
        assert ttl_s > 0 and max_attempts > 0 and resend_interval_s >= 0 and max_per_hour > 0
        self.pool = pool
        self._key = key
        self.ttl_s = ttl_s
        self.max_attempts = max_attempts
        self.resend_interval_s = resend_interval_s
        self.max_per_hour = max_per_hour
        self.clock = clock

    def _hash(self, phone_e164: str, code: str) -> bytes:
        return hmac.new(self._key, f"{phone_e164}:{code}".encode(), hashlib.sha256).digest()

    async def issue(self, phone_e164: str) -> str:
        """A fresh code for this phone (replacing any earlier one), or OtpError(429)."""
        now_s = self.clock()
        code = f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"
        async with self.pool.acquire() as conn, conn.transaction():
            # Serialise requests for one phone so two parallel sends cannot both pass the limits.
            await conn.execute("SELECT pg_advisory_xact_lock(hashtext('otp:' || $1))", phone_e164)
            await conn.execute(
                "DELETE FROM otp_sends WHERE phone_e164 = $1 AND sent_at <= $2",
                phone_e164, _ts(now_s - HOUR_S),
            )
            sent = [
                r["sent_at"].timestamp() for r in await conn.fetch(
                    "SELECT sent_at FROM otp_sends WHERE phone_e164 = $1 ORDER BY sent_at",
                    phone_e164,
                )
            ]
            if sent and now_s - sent[-1] < self.resend_interval_s:
                wait_s = math.ceil(self.resend_interval_s - (now_s - sent[-1]))
                raise OtpError(
                    429, "otp_rate_limited",
                    f"A code was just sent; wait {wait_s} s before asking again.", max(wait_s, 1),
                )
            if len(sent) >= self.max_per_hour:
                wait_s = math.ceil(sent[0] + HOUR_S - now_s)
                raise OtpError(
                    429, "otp_rate_limited",
                    f"Too many codes this hour; try again in {wait_s} s.", max(wait_s, 1),
                )
            await conn.execute(
                "INSERT INTO otp_sends (phone_e164, sent_at) VALUES ($1, $2)",
                phone_e164, _ts(now_s),
            )
            await conn.execute(
                "INSERT INTO otp_challenges"
                " (phone_e164, code_hash, expires_at, attempts, max_attempts, created_at)"
                " VALUES ($1, $2, $3, 0, $4, $5)"
                " ON CONFLICT (phone_e164) DO UPDATE SET code_hash = EXCLUDED.code_hash,"
                " expires_at = EXCLUDED.expires_at, attempts = 0,"
                " max_attempts = EXCLUDED.max_attempts, created_at = EXCLUDED.created_at",
                phone_e164, self._hash(phone_e164, code), _ts(now_s + self.ttl_s),
                self.max_attempts, _ts(now_s),
            )
        return code

    async def verify(self, phone_e164: str, code: str) -> None:
        """Consume the code if it matches; otherwise count the try and raise OtpError."""
        now_s = self.clock()
        failure: OtpError | None = None
        async with self.pool.acquire() as conn, conn.transaction():
            row = await conn.fetchrow(
                "SELECT code_hash, expires_at, attempts, max_attempts FROM otp_challenges"
                " WHERE phone_e164 = $1 FOR UPDATE",
                phone_e164,
            )
            if row is None:
                raise OtpError(400, "otp_not_found", "No code was requested for this number.")
            if row["attempts"] >= row["max_attempts"]:
                raise OtpError(
                    429, "otp_attempts_exhausted", "Too many wrong tries; request a new code."
                )
            if row["expires_at"].timestamp() <= now_s:
                await conn.execute("DELETE FROM otp_challenges WHERE phone_e164 = $1", phone_e164)
                raise OtpError(400, "otp_expired", "The code has expired; request a new one.")
            if hmac.compare_digest(row["code_hash"], self._hash(phone_e164, code)):
                await conn.execute("DELETE FROM otp_challenges WHERE phone_e164 = $1", phone_e164)
                return
            attempts = row["attempts"] + 1
            await conn.execute(
                "UPDATE otp_challenges SET attempts = $2 WHERE phone_e164 = $1",
                phone_e164, attempts,
            )
            left = row["max_attempts"] - attempts
            if left <= 0:
                failure = OtpError(
                    429, "otp_attempts_exhausted", "Too many wrong tries; request a new code."
                )
            else:
                failure = OtpError(
                    400, "otp_invalid", f"The code is wrong; {left} tries left."
                )
        raise failure
