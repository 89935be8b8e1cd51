"""Per-player provably fair seeds in Postgres: commit, advance the nonce, reveal on rotation."""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass
from typing import Any

from ledger import Conn
from rooms.games.quick import fair


@dataclass(frozen=True, slots=True)
class ActiveSeed:
    id: uuid.UUID
    server_seed: bytes
    seed_hash: str
    client_seed: str
    next_nonce: int

    def public(self) -> dict[str, Any]:
        """What a player may see before betting: the commitment, never the seed."""
        return {"seed_hash": self.seed_hash, "client_seed": self.client_seed,
                "nonce": self.next_nonce}


def default_client_seed() -> str:
    return secrets.token_hex(8)


async def lock_active_seed(conn: Conn, user_id: uuid.UUID) -> ActiveSeed:
    """The player's unrevealed seed, created if missing, row-locked for this transaction.

    The lock also serialises one player's bets, which keeps nonces gap-free and
    makes the per-day limit check exact.
    """
    seed = fair.new_server_seed()
    await conn.execute(
        "INSERT INTO fair_seeds (user_id, server_seed, seed_hash, client_seed)"
        " VALUES ($1, $2, $3, $4) ON CONFLICT (user_id) WHERE revealed_at IS NULL DO NOTHING",
        user_id, seed, fair.seed_hash(seed), default_client_seed(),
    )
    row = await conn.fetchrow(
        "SELECT id, server_seed, seed_hash, client_seed, next_nonce FROM fair_seeds"
        " WHERE user_id = $1 AND revealed_at IS NULL FOR UPDATE", user_id,
    )
    assert row is not None
    return ActiveSeed(row["id"], bytes(row["server_seed"]), row["seed_hash"], row["client_seed"],
                      row["next_nonce"])


async def take_nonce(conn: Conn, seed: ActiveSeed) -> int:
    """Consume the next nonce of a locked seed."""
    await conn.execute("UPDATE fair_seeds SET next_nonce = next_nonce + 1 WHERE id = $1", seed.id)
    return seed.next_nonce


async def rotate(
    conn: Conn, user_id: uuid.UUID, client_seed: str | None
) -> dict[str, Any]:
    """Reveal the current seed and commit to a new one (with the player's client seed if given)."""
    if client_seed is not None:
        fair.check_client_seed(client_seed)
    old = await lock_active_seed(conn, user_id)
    await conn.execute("UPDATE fair_seeds SET revealed_at = now() WHERE id = $1", old.id)
    seed = fair.new_server_seed()
    new_client = client_seed or default_client_seed()
    await conn.execute(
        "INSERT INTO fair_seeds (user_id, server_seed, seed_hash, client_seed)"
        " VALUES ($1, $2, $3, $4)",
        user_id, seed, fair.seed_hash(seed), new_client,
    )
    return {
        "revealed": {"server_seed": old.server_seed.hex(), "seed_hash": old.seed_hash,
                     "client_seed": old.client_seed, "nonces_used": old.next_nonce},
        "current": {"seed_hash": fair.seed_hash(seed), "client_seed": new_client, "nonce": 0},
    }
