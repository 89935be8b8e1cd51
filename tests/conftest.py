"""Session fixtures: real Postgres and Redis, a fresh database, a live server.

After every test that touched the database, the ledger's invariants are checked.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from redis.asyncio import Redis

from server.config import Settings
from server.db import create_pool
from server.migrate import migrate
from tests.support import (
    LiveServer,
    TestServices,
    run_server,
    start_test_services,
    stop_test_services,
)

DB_FIXTURES = {"pool", "ledger", "server", "state"}


@pytest.fixture(scope="session")
def test_services() -> Iterator[TestServices]:
    # Outside pytest's rotating temp folders: a concurrent pytest run may prune those,
    # and with them an embedded cluster's data directory.
    folder = Path(tempfile.mkdtemp(prefix="matchpot-test-"))
    ts = start_test_services(folder)
    try:
        yield ts
    finally:
        stop_test_services(ts)
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("data")


@pytest.fixture(scope="session")
def settings(test_services: TestServices, data_dir: Path) -> Settings:
    return test_services.settings(data_dir)


@pytest.fixture(scope="session")
async def pool(test_services: TestServices) -> AsyncIterator[Any]:
    pool = await create_pool(test_services.database_url, min_size=2, max_size=40)
    async with pool.acquire() as conn:
        await migrate(conn)
    yield pool
    await pool.close()


@pytest.fixture(scope="session")
async def redis(test_services: TestServices) -> AsyncIterator[Redis]:
    r = Redis.from_url(test_services.redis_url)
    yield r
    await r.aclose()


@pytest.fixture(scope="session")
async def ledger(pool: Any) -> Any:
    from ledger import Ledger

    return Ledger(pool)


@pytest.fixture(scope="session")
async def server(
    settings: Settings, test_services: TestServices, pool: Any
) -> AsyncIterator[LiveServer]:
    async with run_server(settings, test_services.services_for_run()) as live:
        yield live


@pytest.fixture
def state(server: LiveServer) -> Any:
    return server.state


@pytest.fixture(autouse=True)
async def ledger_invariants(request: pytest.FixtureRequest) -> AsyncIterator[None]:
    """Every test that touched the database leaves the books balanced."""
    yield
    if not DB_FIXTURES.intersection(request.fixturenames):
        return
    from ledger import Ledger

    pool = request.getfixturevalue("pool")  # already set up: every DB fixture depends on it
    await Ledger(pool).check_invariants()
