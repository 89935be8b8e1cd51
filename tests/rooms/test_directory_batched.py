"""The node's directory writer: many rooms' entries in shared pipelines, closings honoured."""

from __future__ import annotations

import uuid
from typing import Any

from rooms import keys
from rooms.directory import BatchedDirectory, RoomDirectory
from rooms.runtime import RoomInfo
from tests.waiting import eventually


def _info(room_id: str, seq: int) -> RoomInfo:
    return RoomInfo(room_id=room_id, node="n1", game="quiz", players=("a", "b"),
                    stakes={"a": 100, "b": 100}, currency="KES", phase="question",
                    started_ms=1, deadline_ms=None, seq=seq)


async def test_many_rooms_share_one_write_and_the_latest_state_wins(
    redis: Any, settings: Any
) -> None:
    directory = RoomDirectory(redis, settings.redis_prefix)
    writer = BatchedDirectory(directory, interval_s=60)  # nothing leaves before flush()
    rooms = [f"r-{uuid.uuid4().hex[:8]}" for _ in range(30)]
    for seq in (1, 2, 3):
        for room_id in rooms:
            await writer.room_updated(_info(room_id, seq), {"n": seq})
    assert await directory.get(rooms[0]) is None, "noted, not written yet"
    await writer.flush()
    assert writer.writes == 1
    for room_id in rooms:
        entry = await directory.get(room_id)
        assert entry is not None and entry.info["seq"] == 3
        assert entry.snapshot["state"] == {"n": 3}
    live = {r["room_id"] for r in await directory.list_live(100)}
    assert set(rooms) <= live
    await writer.aclose()


async def test_a_rooms_entry_is_one_key_with_its_place_and_snapshot_of_one_moment(
    redis: Any, settings: Any
) -> None:
    directory = RoomDirectory(redis, settings.redis_prefix)
    room_id = f"r-{uuid.uuid4().hex[:8]}"
    await directory.room_updated(_info(room_id, 7), {"question": 4})
    stored = [k async for k in redis.scan_iter(f"{settings.redis_prefix}:rooms:{{{room_id}}}*")]
    assert stored == [keys.room(settings.redis_prefix, room_id).encode()]
    assert 0 < await redis.ttl(stored[0]) <= directory.entry_ttl_s
    entry = await directory.get(room_id)
    assert entry is not None
    assert entry.info["seq"] == entry.snapshot["seq"] == 7
    assert entry.snapshot["state"] == {"question": 4}
    await directory.room_closed(room_id)
    assert [k async for k in redis.scan_iter(f"{settings.redis_prefix}:rooms:{{{room_id}}}*")] == []
    assert await directory.get(room_id) is None


async def test_a_room_closed_before_its_update_is_written_is_only_removed(
    redis: Any, settings: Any
) -> None:
    directory = RoomDirectory(redis, settings.redis_prefix)
    writer = BatchedDirectory(directory, interval_s=60)
    kept, gone = f"r-{uuid.uuid4().hex[:8]}", f"r-{uuid.uuid4().hex[:8]}"
    await writer.room_updated(_info(kept, 1), {})
    await writer.room_updated(_info(gone, 1), {})
    await writer.flush()
    await writer.room_updated(_info(gone, 2), {})
    await writer.room_closed(gone)
    await writer.aclose()  # shutting down writes what is left
    assert await directory.get(gone) is None
    assert gone not in {r["room_id"] for r in await directory.list_live(100)}
    assert await directory.get(kept) is not None


async def test_the_writer_sends_on_its_own_within_its_interval(redis: Any, settings: Any) -> None:
    directory = RoomDirectory(redis, settings.redis_prefix)
    writer = BatchedDirectory(directory, interval_s=0.01)
    room_id = f"r-{uuid.uuid4().hex[:8]}"
    await writer.room_updated(_info(room_id, 1), {})
    await eventually(lambda: directory.get(room_id), what="the entry written by the writer")
    await writer.room_closed(room_id)

    async def removed() -> bool:
        return await directory.get(room_id) is None

    await eventually(removed, what="the entry removed by the writer")
    await writer.aclose()


async def test_a_rooms_place_in_the_live_list_is_pushed_out_only_after_half_its_ttl(
    redis: Any, settings: Any
) -> None:
    directory = RoomDirectory(redis, settings.redis_prefix, entry_ttl_s=120)
    now = [1_000_000]
    writer = BatchedDirectory(directory, interval_s=60, now_ms=lambda: now[0])
    room_id = f"r-{uuid.uuid4().hex[:8]}"
    live_key = keys.live(settings.redis_prefix)
    await writer.room_updated(_info(room_id, 1), {"n": 1})
    await writer.flush()
    assert await redis.zscore(live_key, room_id) == 1_000_000 + 120_000
    now[0] += 59_000  # within half the TTL: the entry is rewritten, its listing is not
    await writer.room_updated(_info(room_id, 2), {"n": 2})
    await writer.flush()
    entry = await directory.get(room_id)
    assert entry is not None and entry.info["seq"] == 2
    assert await redis.zscore(live_key, room_id) == 1_000_000 + 120_000
    now[0] += 2_000  # past half the TTL: listed again, well before it would be pruned
    await writer.room_updated(_info(room_id, 3), {"n": 3})
    await writer.flush()
    assert await redis.zscore(live_key, room_id) == 1_061_000 + 120_000
    await writer.room_closed(room_id)
    await writer.aclose()
    assert await redis.zscore(live_key, room_id) is None
