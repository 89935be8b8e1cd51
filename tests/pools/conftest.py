"""A live server for pool tests: its own Redis prefix, the week job off, a manual clock."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from rooms.clock import ManualClock
from tests.fakes.stripe_api import FakeStripe
from tests.support import LiveServer, TestServices, run_server


@pytest.fixture(scope="session")
def fake_stripe() -> Iterator[FakeStripe]:
    fake = FakeStripe().start()
    yield fake
    fake.stop()


@pytest.fixture(scope="session")
async def pools_server(
    test_services: TestServices, tmp_path_factory: pytest.TempPathFactory, pool: Any,
    fake_stripe: FakeStripe,
) -> AsyncIterator[LiveServer]:
    env = {"MATCHPOT_POOLS_JOB_INTERVAL_S": "0",
           "MATCHPOT_POOLS_STRIPE_API_BASE": fake_stripe.url,
           "MATCHPOT_POOLS_STRIPE_SECRET_KEY": fake_stripe.secret_key,
           "MATCHPOT_POOLS_STRIPE_WEBHOOK_SECRET": fake_stripe.webhook_secret,
           "MATCHPOT_POOLS_PRIZE_FUND_PER_MEMBER_MINOR": "10000"}
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
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
