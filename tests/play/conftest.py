"""A live server with fast quiz timings, so a whole duel over websockets takes seconds."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from rooms.clock import ManualClock
from tests.support import LiveServer, TestServices, run_server

FAST_QUIZ = dict(
    game_settings={"quiz": dict(countdown_ms=300, answer_window_ms=5_000, reveal_ms=200,
                                join_timeout_ms=5_000)},
    room_grace_ms=4_000, mm_window_start=400,
)


@pytest.fixture(scope="session")
async def play_server(
    test_services: TestServices, tmp_path_factory: pytest.TempPathFactory, pool: Any
) -> AsyncIterator[LiveServer]:
    # Its own Redis prefix: the session's other server must not pair (and host) these players.
    settings = test_services.settings(
        Path(tmp_path_factory.mktemp("play")),
        redis_prefix=f"{test_services.redis_prefix}play", **FAST_QUIZ,
    )
    async with run_server(settings, test_services.services_for_run()) as live:
        yield live


@pytest.fixture(scope="session")
async def manual_play_server(
    test_services: TestServices, tmp_path_factory: pytest.TempPathFactory, pool: Any
) -> AsyncIterator[tuple[LiveServer, ManualClock]]:
    """A live server whose rooms and matchmaking run on a ManualClock the test advances."""
    # Start at the real time: every live server of the session shares one database, and the
    # other features' schedulers on this server (tournaments, pools) act on shared rows by it.
    clock = ManualClock(start_ms=int(time.time() * 1000))
    settings = test_services.settings(
        Path(tmp_path_factory.mktemp("manual")),
        redis_prefix=f"{test_services.redis_prefix}manual", **FAST_QUIZ,
    )
    async with run_server(settings, test_services.services_for_run(), clock=clock) as live:
        yield live, clock
