"""Per-module fixtures: a fake Graph API and a live server with the WhatsApp channel on."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.fakes.graph_api import FakeGraphApi
from tests.support import LiveServer, TestServices, run_server
from tests.whatsapp.helpers import ACCESS_TOKEN, PHONE_NUMBER_ID, wa_settings


@pytest.fixture(scope="module")
async def fake() -> AsyncIterator[FakeGraphApi]:
    async with FakeGraphApi(token=ACCESS_TOKEN, phone_number_id=PHONE_NUMBER_ID) as f:
        yield f


@pytest.fixture(scope="module")
def wa_overrides() -> dict[str, Any]:
    """Settings a module wants on top of the WhatsApp test settings (override per module)."""
    return {}


@pytest.fixture(scope="module")
async def wa_server(
    test_services: TestServices, data_dir: Path, fake: FakeGraphApi, pool: Any, ledger: Any,
    wa_overrides: dict[str, Any],
) -> AsyncIterator[LiveServer]:
    settings = wa_settings(test_services, data_dir, fake.url, **wa_overrides)
    async with run_server(settings, test_services.services_for_run()) as live:
        yield live


@pytest.fixture
async def client(wa_server: LiveServer) -> AsyncIterator[httpx.AsyncClient]:
    async with wa_server.http() as c:
        yield c
