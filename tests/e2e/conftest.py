"""A live server with WhatsApp and M-Pesa on, talking to the fake Graph API and fake Daraja."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.fakes.daraja import FakeDaraja
from tests.fakes.graph_api import FakeGraphApi
from tests.payments.conftest import mpesa_settings
from tests.support import LiveServer, TestServices, run_server
from tests.whatsapp.helpers import ACCESS_TOKEN, PHONE_NUMBER_ID, wa_settings

PAIR_INTERVAL_S = 0.05  # the per-user pair rate, shrunk so a conversation runs fast


@pytest.fixture(scope="module")
async def fake() -> AsyncIterator[FakeGraphApi]:
    async with FakeGraphApi(token=ACCESS_TOKEN, phone_number_id=PHONE_NUMBER_ID) as f:
        yield f


@pytest.fixture(scope="module")
def fake_daraja() -> Iterator[FakeDaraja]:
    daraja = FakeDaraja().start()
    yield daraja
    daraja.stop()


@pytest.fixture(scope="module")
async def e2e_server(
    test_services: TestServices, data_dir: Path, fake: FakeGraphApi, fake_daraja: FakeDaraja,
    pool: Any, ledger: Any,
) -> AsyncIterator[LiveServer]:
    # Its own Redis prefix: queues, claims and pairing are this server's alone, so a ticket
    # another module's server left waiting cannot be paired with this module's players.
    base = wa_settings(test_services, data_dir, fake.url,
                       whatsapp_pair_interval_s=PAIR_INTERVAL_S,
                       redis_prefix=f"{test_services.redis_prefix}e2e")
    async with run_server(mpesa_settings(base, fake_daraja),
                          test_services.services_for_run()) as live:
        # Daraja must call back this server, whose port is only known once it runs.
        live.state.settings = live.state.settings.model_copy(
            update={"mpesa_callback_base_url": live.base_url})
        yield live


@pytest.fixture
async def client(e2e_server: LiveServer) -> AsyncIterator[httpx.AsyncClient]:
    async with e2e_server.http() as c:
        yield c
