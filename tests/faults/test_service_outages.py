"""A live server whose Postgres freezes (SIGSTOP) or whose Redis restarts.

Each test starts its own app instance against a throwaway service it may signal; the
run's shared Postgres and Redis are never touched.
"""

from __future__ import annotations

import asyncio
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from ledger import Ledger
from server.config import Settings
from server.db import create_pool
from server.embedded import Services
from server.gateway.events import publish_to_user
from server.gateway.ws import hub_of
from tests.faults.support import PostgresProcess, RedisProcess, wait_for
from tests.server.gateway_helpers import new_player, open_ws, recv_type
from tests.support import TestServices, run_server


@pytest.fixture
def frozen_pg() -> Iterator[PostgresProcess]:
    proc = PostgresProcess(Path(tempfile.mkdtemp(prefix="matchpot-fault-pg-")))
    proc.start()
    try:
        yield proc
    finally:
        proc.stop()


async def test_readyz_answers_503_while_postgres_is_frozen_then_recovers(
    frozen_pg: PostgresProcess, test_services: TestServices, data_dir: Path,
) -> None:
    url = frozen_pg.pg.url
    settings = test_services.settings(
        data_dir, database_url=url, redis_prefix=f"mpf{uuid.uuid4().hex[:8]}",
        readyz_timeout_s=0.5, db_acquire_timeout_s=1.0, db_command_timeout_s=1.0,
    )
    async with run_server(settings, Services(url, test_services.redis_url)) as live:
        # Answering at all is the point; the client's own bound is the configured one plus
        # a generous margin, so a hang fails here rather than at pytest's timeout.
        bound_s = settings.readyz_timeout_s + 10
        async with httpx.AsyncClient(base_url=live.base_url, timeout=bound_s) as http:
            assert (await http.get("/readyz")).status_code == 200
            frozen_pg.freeze()
            try:
                for _ in range(2):  # the second finds the first probe still stuck
                    r = await http.get("/readyz")
                    assert r.status_code == 503, r.text
                    assert r.json()["checks"]["postgres"].startswith("error")
                    assert r.json()["checks"]["redis"] == "ok"
                assert (await http.get("/healthz")).status_code == 200  # the loop answers
            finally:
                frozen_pg.thaw()

            async def ready() -> bool:
                return (await http.get("/readyz")).status_code == 200

            await wait_for(ready, 30, "ready again after the thaw")
    pool = await create_pool(url, min_size=1, max_size=2)
    try:
        await Ledger(pool).check_invariants()
    finally:
        await pool.close()


async def test_pubsub_resubscribes_after_a_redis_restart(
    test_services: TestServices, data_dir: Path, pool: Any,
) -> None:
    rd = RedisProcess(Path(tempfile.mkdtemp(prefix="matchpot-fault-redis-")))
    rd.start()
    try:
        settings: Settings = test_services.settings(
            data_dir, redis_url=rd.url, redis_prefix=f"mpf{uuid.uuid4().hex[:8]}",
            redis_retry_base_s=0.02, redis_retry_cap_s=0.5, redis_health_check_interval_s=1,
        )
        async with run_server(settings, Services(test_services.database_url, rd.url)) as live:
            state = live.state
            user, token = await new_player(state)
            ws, _ = await open_ws(live.ws_url, token)
            try:
                hub = hub_of(state)
                before = hub.resubscribed
                await asyncio.to_thread(rd.restart)

                async def resubscribed() -> bool:
                    return hub.resubscribed > before

                await wait_for(resubscribed, 30, "the hub subscribed again")
                await publish_to_user(state, user.id, {"t": "fault_probe", "n": 1})
                frame = await recv_type(ws, "fault_probe")
                assert frame["n"] == 1
            finally:
                await ws.close()
    finally:
        rd.stop()
