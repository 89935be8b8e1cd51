"""Rotating refresh tokens. Each login starts a family; each refresh spends the
presented token and issues the next. Presenting a spent token means it was
copied, so the whole family is revoked and the thief and the owner both have
to log in again.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import timedelta

import asyncpg

from rooms.clock import wall_now
from server.db import DbConn
from server.errors import MatchpotError

TOKEN_BYTES = 32
MAX_TOKEN_CHARS = 128


class RefreshError(MatchpotError):
    """The refresh token cannot be used; `code` is stable (all are 401 at the edge).

    `session` is (user id, family id) when the error revoked a family (`refresh_reused`),
    so the caller can end that session's access tokens and sockets too.
    """

    def __init__(self, code: str, msg: str, session: tuple[str, str] | None = None) -> None:
        super().__init__(code, msg, 401)
        self.session = session


@dataclass(frozen=True, slots=True)
class Rotated:
    user_id: str
    family_id: str
    refresh_token: str


def _hash(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


async def _insert(
    conn: DbConn, user_id: str, family_id: uuid.UUID, ttl_s: int
) -> str:
    token = secrets.token_urlsafe(TOKEN_BYTES)
    await conn.execute(
        "INSERT INTO refresh_tokens (token_hash, family_id, user_id, expires_at)"
        " VALUES ($1, $2, $3, $4)",
        _hash(token), family_id, uuid.UUID(user_id),
        wall_now() + timedelta(seconds=ttl_s),
    )
    return token


async def start_family(pool: asyncpg.Pool, user_id: str, ttl_s: int) -> str:
    """The first refresh token of a new login."""
    return (await start_family_with_id(pool, user_id, ttl_s))[0]


async def start_family_with_id(pool: asyncpg.Pool, user_id: str, ttl_s: int) -> tuple[str, str]:
    """The first refresh token of a new login and the family (= session) id."""
    assert ttl_s > 0
    family_id = uuid.uuid4()
    async with pool.acquire() as conn:
        return await _insert(conn, user_id, family_id, ttl_s), str(family_id)


async def rotate(pool: asyncpg.Pool, token: str, ttl_s: int) -> Rotated:
    """Spend `token` and issue its successor, or raise RefreshError."""
    if not token or len(token) > MAX_TOKEN_CHARS:
        raise RefreshError("refresh_invalid", "The refresh token is not valid.")
    reused: tuple[str, str] | None = None
    async with pool.acquire() as conn, conn.transaction():
        row = await conn.fetchrow(
            "SELECT family_id, user_id, expires_at, spent_at, revoked_at FROM refresh_tokens"
            " WHERE token_hash = $1 FOR UPDATE",
            _hash(token),
        )
        if row is None:
            raise RefreshError("refresh_invalid", "The refresh token is not valid.")
        if row["revoked_at"] is not None:
            raise RefreshError("refresh_revoked", "This session was ended; log in again.")
        if row["spent_at"] is not None:
            reused = (str(row["user_id"]), str(row["family_id"]))
            await conn.execute(
                "UPDATE refresh_tokens SET revoked_at = now()"
                " WHERE family_id = $1 AND revoked_at IS NULL",
                row["family_id"],
            )
        elif row["expires_at"] <= wall_now():
            raise RefreshError("refresh_expired", "The session has expired; log in again.")
        else:
            await conn.execute(
                "UPDATE refresh_tokens SET spent_at = now() WHERE token_hash = $1", _hash(token)
            )
            user_id = str(row["user_id"])
            new_token = await _insert(conn, user_id, row["family_id"], ttl_s)
            return Rotated(user_id, str(row["family_id"]), new_token)
    assert reused is not None
    raise RefreshError(
        "refresh_reused", "This refresh token was already used; the session is revoked.", reused
    )


async def revoke_family_of(pool: asyncpg.Pool, token: str) -> tuple[str, str] | None:
    """End the session `token` belongs to (logout): (user id, family id), None if unknown.

    Also for a family that is already revoked, so a repeated logout finds its session.
    """
    if not token or len(token) > MAX_TOKEN_CHARS:
        return None
    row = await pool.fetchrow(
        "WITH fam AS (SELECT family_id, user_id FROM refresh_tokens WHERE token_hash = $1)"
        " , upd AS (UPDATE refresh_tokens SET revoked_at = coalesce(revoked_at, now())"
        "   WHERE family_id = (SELECT family_id FROM fam))"
        " SELECT family_id, user_id FROM fam",
        _hash(token),
    )
    return (str(row["user_id"]), str(row["family_id"])) if row is not None else None
