"""Players: one row per phone number, created on first login (web or WhatsApp)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import asyncpg


@dataclass(frozen=True, slots=True)
class User:
    """A player. `id` is the ledger owner suffix: the account is f"user:{id}"."""

    id: str
    phone_e164: str
    display_name: str

    def public(self) -> dict[str, Any]:
        """What the player's own client may see about themselves."""
        return {"id": self.id, "phone": self.phone_e164, "display_name": self.display_name}



def default_display_name(phone_e164: str) -> str:
    return f"Player {phone_e164[-3:]}"


def _user(row: asyncpg.Record) -> User:
    return User(id=str(row["id"]), phone_e164=row["phone_e164"], display_name=row["display_name"])


async def get_or_create_user_by_phone(pool: asyncpg.Pool, phone_e164: str) -> User:
    """The player with this number, created if new. Safe under concurrent first logins."""
    assert phone_e164.startswith("+"), "normalise the phone number to E.164 first"
    row = await pool.fetchrow(
        "INSERT INTO users (phone_e164, display_name) VALUES ($1, $2)"
        " ON CONFLICT (phone_e164) DO NOTHING RETURNING id, phone_e164, display_name",
        phone_e164, default_display_name(phone_e164),
    )
    if row is None:
        row = await pool.fetchrow(
            "SELECT id, phone_e164, display_name FROM users WHERE phone_e164 = $1", phone_e164
        )
    assert row is not None
    return _user(row)


async def get_user(pool: asyncpg.Pool, user_id: str) -> User | None:
    """The player with this id, or None (also for a malformed id)."""
    try:
        uid = uuid.UUID(user_id)
    except ValueError:
        return None
    row = await pool.fetchrow(
        "SELECT id, phone_e164, display_name FROM users WHERE id = $1", uid
    )
    return _user(row) if row is not None else None
