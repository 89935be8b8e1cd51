"""The node's directory writer: many rooms' entries in shared pipelines, closings honoured."""

from __future__ import annotations

import uuid
from typing import Any

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
        assert entry is not None and entry.info["seq"] == 3 and entry.snapshot is not None
        assert entry.snapshot["state"] == {"n": 3}
    live = {r["room_id"] for r in await directory.list_live(100)}
    assert set(rooms) <= live
    await writer.aclose()


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
