"""Versioned SQL migrations, applied in order under a Postgres advisory lock.

Each folder owns its tables: `ledger/migrations` first, then `server/migrations`.
A file is applied once, in its own transaction, and recorded by name, so
applying twice (or from two nodes at once) is a no-op.
"""

from __future__ import annotations

from pathlib import Path

import structlog

import ledger
import server
from server.db import DbConn

log = structlog.get_logger(__name__)

ADVISORY_LOCK_KEY = 0x6D61_7463_6870  # "matchp"
MIGRATION_DIRS: tuple[tuple[str, Path], ...] = (
    ("ledger", Path(ledger.__file__).parent / "migrations"),
    ("server", Path(server.__file__).parent / "migrations"),
)


def pending_files() -> list[tuple[str, Path]]:
    """Every migration file as (recorded name, path), in the order they must run."""
    found: list[tuple[str, Path]] = []
    for area, folder in MIGRATION_DIRS:
        for path in sorted(folder.glob("*.sql")):
            found.append((f"{area}/{path.name}", path))
    return found


async def migrate(conn: DbConn) -> list[str]:
    """Apply what has not been applied yet; return the names applied now."""
    applied_now: list[str] = []
    await conn.execute("SELECT pg_advisory_lock($1)", ADVISORY_LOCK_KEY)
    try:
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            " name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
        )
        done = {r["name"] for r in await conn.fetch("SELECT name FROM schema_migrations")}
        for name, path in pending_files():
            if name in done:
                continue
            async with conn.transaction():
                await conn.execute(path.read_text())
                await conn.execute("INSERT INTO schema_migrations(name) VALUES ($1)", name)
            applied_now.append(name)
            log.info("migration_applied", name=name)
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", ADVISORY_LOCK_KEY)
    return applied_now
