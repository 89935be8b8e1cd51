"""A live server with WhatsApp on, the fake Graph API, a fake verifier and a manual clock.

The server's clock is replaced by a ManualClock started at the real time, and the
challenge service's settings by the module's own, so a test moves deadlines and
reminders by advancing the clock and running the feature's round (`svc.run_due()`).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from rooms.clock import ManualClock
from server.features.challenges.service import CHALLENGES, ChallengeService
from server.features.challenges.settings import ChallengeSettings
from tests.fakes.graph_api import FakeGraphApi
from tests.fakes.vision import FakeVision
from tests.support import LiveServer, TestServices, run_server
from tests.whatsapp.helpers import ACCESS_TOKEN, PHONE_NUMBER_ID, wa_settings

REMINDER_TEMPLATE = "challenge_reminder_v1"


@pytest.fixture(scope="module")
async def fake() -> AsyncIterator[FakeGraphApi]:
    async with FakeGraphApi(token=ACCESS_TOKEN, phone_number_id=PHONE_NUMBER_ID) as f:
        yield f


@pytest.fixture(scope="module")
async def vision() -> AsyncIterator[FakeVision]:
    async with FakeVision() as v:
        yield v


def challenge_settings(**overrides: Any) -> ChallengeSettings:
    values: dict[str, Any] = dict(
        tick_s=300.0, verifier_retry_base_s=0.01, verifier_timeout_s=2.0,
        verifier_token="vision-token",
    )
    values.update(overrides)
    return ChallengeSettings(**values)


@pytest.fixture(scope="module")
async def live(
    test_services: TestServices, data_dir: Path, fake: FakeGraphApi, pool: Any, ledger: Any,
) -> AsyncIterator[LiveServer]:
    settings = wa_settings(
        test_services, data_dir, fake.url, whatsapp_pair_interval_s=0.0,
        whatsapp_alert_templates={"challenge_reminder": REMINDER_TEMPLATE},
    )
    async with run_server(settings, test_services.services_for_run()) as server:
        server.state.clock = ManualClock(start_ms=int(time.time() * 1000))
        yield server


@pytest.fixture
def svc(live: LiveServer) -> ChallengeService:
    """The service with this module's settings (each test starts from the defaults)."""
    service: ChallengeService = live.state.need(CHALLENGES)
    service.settings = challenge_settings()
    return service


@pytest.fixture
def clock(live: LiveServer) -> ManualClock:
    clock = live.state.clock
    assert isinstance(clock, ManualClock)
    return clock


@pytest.fixture
async def client(live: LiveServer) -> AsyncIterator[httpx.AsyncClient]:
    async with live.http() as c:
        yield c
