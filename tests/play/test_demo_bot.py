"""In demo mode a lone player gets the house bot as an opponent and plays a whole duel."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.play.conftest import FAST_QUIZ
from tests.play.helpers import STAKE_MINOR, available, funded_client
from tests.support import TestServices, run_server


async def test_lone_player_meets_the_demo_bot_and_the_duel_settles(
    test_services: TestServices, tmp_path_factory: pytest.TempPathFactory, pool: Any
) -> None:
    settings = test_services.settings(
        Path(tmp_path_factory.mktemp("demo-bot")), demo=True,
        redis_prefix=f"{test_services.redis_prefix}demo", **FAST_QUIZ
    )
    async with run_server(settings, test_services.services_for_run()) as live:
        me, client = await funded_client(live)
        try:
            await client.request("queue_join", game="quiz", stake_minor=STAKE_MINOR)
            found = await client.next_event("match_found", timeout=15)
            assert found["opponent"]["display_name"] == "Demo bot"
            await client.request("room_join", room_id=found["room_id"],
                                 seat_token=found["seat_token"])
            result = await client.next_event("quiz_result", timeout=30)
            assert result["room_id"] == found["room_id"]
            after = await available(live, me)
            if result["winner"] == me:
                assert after == 100_000 - STAKE_MINOR + result["payout_minor"]
            elif result["winner"] is None:
                assert after == 100_000
            else:
                assert after == 100_000 - STAKE_MINOR
        finally:
            await client.close()
