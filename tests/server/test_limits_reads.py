"""Standing reads shared by players who ask at once (server/limits/reads.py)."""

from __future__ import annotations

import asyncio
import random
import uuid
from typing import Any

import pytest

from server.limits import reads
from server.limits.reads import StandingRows


async def _players(pool: Any, count: int) -> list[uuid.UUID]:
    ids = [uuid.uuid4() for _ in range(count)]
    await pool.executemany(
        "INSERT INTO users (id, phone_e164, display_name) VALUES ($1, $2, 'reads')",
        [(uid, f"+2547{random.randrange(10**8):08d}") for uid in ids])
    return ids


async def test_players_asking_at_once_share_queries_and_each_gets_their_own_standing(
    pool: Any,
) -> None:
    ids = await _players(pool, 60)
    limited, suspended = ids[:20], ids[20:25]
    await pool.executemany(
        "INSERT INTO play_limits (user_id, daily_stake_max_minor) VALUES ($1, $2)",
        [(uid, 1_000 + k) for k, uid in enumerate(limited)])
    await pool.executemany(
        "INSERT INTO player_suspensions (user_id, reason) VALUES ($1, $2)",
        [(uid, f"case {k}") for k, uid in enumerate(suspended)])
    reader = StandingRows(pool, max_inflight=1)

    rows = await asyncio.gather(*(reader.read(str(uid)) for uid in ids))

    assert reader.queries < len(ids) / 4, "a wave of reads went one query each"
    for k, (uid, row) in enumerate(zip(ids, rows, strict=True)):
        assert row["asked_id"] == uid
        assert row["has_limits"] is (k < 20)
        assert row["daily_stake_max_minor"] == (1_000 + k if k < 20 else None)
        assert row["suspended_reason"] == (f"case {k - 20}" if 20 <= k < 25 else None)


async def test_the_same_player_asked_twice_at_once_gets_the_row_both_times(pool: Any) -> None:
    (uid,) = await _players(pool, 1)
    await pool.execute("INSERT INTO player_suspensions (user_id, reason) VALUES ($1, 'x')", uid)
    reader = StandingRows(pool, max_inflight=1)
    a, b = await asyncio.gather(reader.read(str(uid)), reader.read(str(uid)))
    assert a["suspended_reason"] == b["suspended_reason"] == "x"


async def test_a_read_never_answers_from_before_it_was_asked(pool: Any) -> None:
    """No cache: a suspension set between two reads is seen by the second at once."""
    (uid,) = await _players(pool, 1)
    reader = StandingRows(pool)
    assert (await reader.read(str(uid)))["suspended_reason"] is None
    await pool.execute(
        "INSERT INTO player_suspensions (user_id, reason) VALUES ($1, 'fraud review')", uid)
    assert (await reader.read(str(uid)))["suspended_reason"] == "fraud review"


async def test_a_failed_query_fails_the_reads_it_carried_and_the_next_ones_run(
    pool: Any, monkeypatch: pytest.MonkeyPatch,
) -> None:
    (uid,) = await _players(pool, 1)
    reader = StandingRows(pool)
    monkeypatch.setattr(reads, "STANDING_MANY_SQL", "SELECT 1 FROM no_such_table")
    results = await asyncio.gather(*(reader.read(str(uid)) for _ in range(3)),
                                   return_exceptions=True)
    assert all(isinstance(r, Exception) and "no_such_table" in str(r) for r in results)
    monkeypatch.undo()
    assert (await reader.read(str(uid)))["asked_id"] == uid


async def test_a_cancelled_caller_does_not_disturb_the_others(pool: Any) -> None:
    ids = await _players(pool, 5)
    reader = StandingRows(pool, max_inflight=1)
    tasks = [asyncio.create_task(reader.read(str(uid))) for uid in ids]
    await asyncio.sleep(0)
    tasks[0].cancel()
    done = await asyncio.gather(*tasks, return_exceptions=True)
    assert isinstance(done[0], asyncio.CancelledError)
    assert [r["asked_id"] for r in done[1:]] == ids[1:]
