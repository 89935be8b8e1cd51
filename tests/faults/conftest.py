"""Fault fixtures: a throwaway Redis per test (restartable), a client built like the app's."""

from __future__ import annotations

import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from redis.asyncio import Redis

from server.app import make_redis
from server.config import Settings
from tests.faults.support import RedisProcess
from tests.matchmaking.support import ManualClock, delete_prefix
from tests.support import TestServices


@pytest.fixture
def redis_proc() -> Iterator[RedisProcess]:
    folder = Path(tempfile.mkdtemp(prefix="matchpot-fault-redis-"))
    proc = RedisProcess(folder)
    proc.start()
    try:
        yield proc
    finally:
        proc.stop()


@pytest.fixture
def fault_settings(test_services: TestServices, data_dir: Path, redis_proc: RedisProcess
                   ) -> Settings:
    """The app's settings against the throwaway Redis, with short retries (restart < 1 s)."""
    return test_services.settings(
        data_dir, redis_url=redis_proc.url, redis_prefix=f"mpf{uuid.uuid4().hex[:8]}",
        redis_retries=8, redis_retry_base_s=0.02, redis_retry_cap_s=0.5,
        redis_socket_timeout_s=2.0, redis_connect_timeout_s=1.0,
        redis_health_check_interval_s=1,
    )


@pytest.fixture
async def fault_redis(fault_settings: Settings, redis_proc: RedisProcess
                      ) -> AsyncIterator[Redis]:
    client = make_redis(fault_settings, redis_proc.url)
    yield client
    await client.aclose()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
async def prefix(settings: Settings, redis: Redis) -> AsyncIterator[str]:
    """A fresh key prefix on the run's (not the throwaway) Redis."""
    value = f"{settings.redis_prefix}:fault{uuid.uuid4().hex[:8]}"
    yield value
    await delete_prefix(redis, value)
