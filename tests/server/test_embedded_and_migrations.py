"""Embedded services keep their data across restarts; migrations apply once."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import asyncpg
from redis.asyncio import Redis

from server.embedded import EmbeddedPostgres, EmbeddedRedis
from server.migrate import migrate, pending_files


def test_embedded_postgres_and_redis_keep_data_across_restarts(tmp_path: Path) -> None:
    async def write(pg_url: str, redis_url: str) -> None:
        conn = await asyncpg.connect(pg_url)
        await conn.execute("CREATE TABLE kept (v int); INSERT INTO kept VALUES (42)")
        await conn.close()
        r = Redis.from_url(redis_url)
        await r.set("kept", "yes")
        await r.aclose()

    async def read(pg_url: str, redis_url: str) -> tuple[int, bytes | None]:
        conn = await asyncpg.connect(pg_url)
        value = await conn.fetchval("SELECT v FROM kept")
        await conn.close()
        r = Redis.from_url(redis_url)
        kept = await r.get("kept")
        await r.aclose()
        return int(value), kept

    pg, rd = EmbeddedPostgres(tmp_path), EmbeddedRedis(tmp_path)
    try:
        asyncio.run(write(pg.start(), rd.start()))
    finally:
        rd.stop()
        pg.stop()
    pg2, rd2 = EmbeddedPostgres(tmp_path), EmbeddedRedis(tmp_path)
    try:
        assert asyncio.run(read(pg2.start(), rd2.start())) == (42, b"yes")
    finally:
        rd2.stop()
        pg2.stop()


async def test_migrations_apply_once(pool: Any) -> None:
    async with pool.acquire() as conn:
        assert await migrate(conn) == []  # the session already applied everything
        recorded = {r["name"] for r in await conn.fetch("SELECT name FROM schema_migrations")}
    assert recorded == {name for name, _ in pending_files()}
    # Ledger tables come before the server's, which reference them.
    names = [name for name, _ in pending_files()]
    assert names.index("ledger/0001_ledger.sql") < names.index("server/0001_users_auth.sql")
