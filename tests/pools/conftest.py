"""A live server for pool tests: its own Redis prefix, the week job off, a manual clock."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from rooms.clock import ManualClock
from tests.support import LiveServer, TestServices, run_server

POOL_ENV = {"MATCHPOT_POOLS_JOB_INTERVAL_S": "0"}


@pytest.fixture(scope="session")
async def pools_server(
    test_services: TestServices, tmp_path_factory: pytest.TempPathFactory, pool: Any
) -> AsyncIterator[LiveServer]:
    saved = {k: os.environ.get(k) for k in POOL_ENV}
    os.environ.update(POOL_ENV)
    settings = test_services.settings(
        Path(tmp_path_factory.mktemp("pools")),
        redis_prefix=f"{test_services.redis_prefix}pools",
    )
    try:
        async with run_server(settings, test_services.services_for_run()) as live:
            live.state.clock = ManualClock(0)
            yield live
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
