"""Ledger test fixtures: a schema of its own holding only the ledger's tables."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest

import ledger as ledger_pkg

MIGRATIONS = sorted((Path(ledger_pkg.__file__).parent / "migrations").glob("*.sql"))


@pytest.fixture
async def scratch(test_services: Any) -> AsyncIterator[Any]:
    """A pool whose connections see only a fresh schema holding the ledger's tables."""
    schema = f"ledger_scratch_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(test_services.database_url)
    await admin.execute(f"CREATE SCHEMA {schema}")
    pool = await asyncpg.create_pool(
        test_services.database_url, min_size=1, max_size=4,
        server_settings={"search_path": schema},
    )
    try:
        async with pool.acquire() as conn:
            for path in MIGRATIONS:
                await conn.execute(path.read_text())
        yield pool
    finally:
        await pool.close()
        await admin.execute(f"DROP SCHEMA {schema} CASCADE")
        await admin.close()
