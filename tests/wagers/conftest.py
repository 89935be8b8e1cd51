"""A live server offering wager matches, with the resume loop slowed so tests drive it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.support import LiveServer, TestServices, run_server

WAGER_SETTINGS = dict(
    games=["rooms.games.quiz", "rooms.games.wager"],
    game_settings={
        "wager": {"stakes_minor": [1_000, 5_000]},
        "wagers": {"adopt_interval_s": 3_600, "resume_cooldown_s": 0,
                   "pair_daily_rated_max": 3},
    },
    room_grace_ms=4_000, drain_timeout_s=0.5,
)


@pytest.fixture(scope="session")
async def wager_server(
    test_services: TestServices, tmp_path_factory: pytest.TempPathFactory, pool: Any
) -> AsyncIterator[LiveServer]:
    settings = test_services.settings(
        Path(tmp_path_factory.mktemp("wagers")),
        redis_prefix=f"{test_services.redis_prefix}wagers", **WAGER_SETTINGS,
    )
    async with run_server(settings, test_services.services_for_run()) as live:
        yield live
