"""Admin accounts: usernames, argon2 password hashes and one role each."""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass

import asyncpg
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from server.admin.audit import audit

ROLES: tuple[str, ...] = ("viewer", "operator", "finance", "superadmin")
USERNAME_RE = re.compile(r"^[a-z0-9_.-]{3,40}$")
MIN_PASSWORD_CHARS = 8
MAX_PASSWORD_CHARS = 256

_hasher = PasswordHasher()
# Verified against when the username is unknown, so both cases take the same time.
_DUMMY_HASH = _hasher.hash("matchpot-no-such-admin")


class AdminInputError(ValueError):
    """A bad username, password or role, or the username is taken; the message says which."""


@dataclass(frozen=True, slots=True)
class Admin:
    id: str
    username: str
    role: str

    def public(self) -> dict[str, str]:
        return {"id": self.id, "username": self.username, "role": self.role}


def _check(username: str, password: str, role: str) -> None:
    if not USERNAME_RE.match(username):
        raise AdminInputError("username: 3-40 characters of a-z, 0-9, '_', '.', '-'")
    if not MIN_PASSWORD_CHARS <= len(password) <= MAX_PASSWORD_CHARS:
        raise AdminInputError(f"password: {MIN_PASSWORD_CHARS}-{MAX_PASSWORD_CHARS} characters")
    if role not in ROLES:
        raise AdminInputError(f"role must be one of {', '.join(ROLES)}")


async def create_admin(pool: asyncpg.Pool, username: str, password: str, role: str) -> str:
    """Create an admin and return its id; AdminInputError if invalid or taken. Audited."""
    _check(username, password, role)
    password_hash = await asyncio.to_thread(_hasher.hash, password)
    async with pool.acquire() as conn, conn.transaction():
        admin_id = await conn.fetchval(
            "INSERT INTO admins (username, password_hash, role) VALUES ($1, $2, $3)"
            " ON CONFLICT (username) DO NOTHING RETURNING id",
            username, password_hash, role,
        )
        if admin_id is None:
            raise AdminInputError(f"an admin named {username!r} already exists")
        await audit(conn, None, "admin.create", f"admin:{admin_id}", {"username": username,
                                                                       "role": role})
    return str(admin_id)


async def ensure_admin(pool: asyncpg.Pool, username: str, password: str, role: str) -> str:
    """The id of `username`, created with this password and role if missing (idempotent)."""
    existing = await pool.fetchval("SELECT id FROM admins WHERE username = $1", username)
    if existing is not None:
        return str(existing)
    try:
        return await create_admin(pool, username, password, role)
    except AdminInputError:
        existing = await pool.fetchval("SELECT id FROM admins WHERE username = $1", username)
        if existing is None:
            raise
        return str(existing)


async def authenticate(pool: asyncpg.Pool, username: str, password: str) -> Admin | None:
    """The enabled admin these credentials belong to, or None. Rehashes outdated hashes."""
    row = await pool.fetchrow(
        "SELECT id, username, role, password_hash, disabled FROM admins WHERE username = $1",
        username,
    )
    stored = row["password_hash"] if row is not None else _DUMMY_HASH
    try:
        await asyncio.to_thread(_hasher.verify, stored, password)
    except (VerificationError, InvalidHashError):
        return None
    if row is None or row["disabled"]:
        return None
    if _hasher.check_needs_rehash(stored):
        new_hash = await asyncio.to_thread(_hasher.hash, password)
        await pool.execute(
            "UPDATE admins SET password_hash = $2 WHERE id = $1", row["id"], new_hash
        )
    return Admin(str(row["id"]), row["username"], row["role"])
