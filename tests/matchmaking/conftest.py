"""Matchmaking fixtures: a fresh Redis key prefix per test under the run's prefix."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from server.config import Settings
from tests.matchmaking.support import ManualClock, delete_prefix


@pytest.fixture
async def prefix(settings: Settings, redis: Redis) -> AsyncIterator[str]:
    value = f"{settings.redis_prefix}:mm{uuid.uuid4().hex[:8]}"
    yield value
    await delete_prefix(redis, value)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()
