"""A player's own live rooms, so a reloaded app (or another device) finds its duel again.

On every pairing the play service records, per player, the room id and the
websocket URL of the node that hosts it (a Redis hash with a TTL). Reading it
keeps only rooms the directory still lists as live, and forgets the rest. The
player then sends `room_join` with `since_seq` (or the seat token, if they never
sat down) to the node named here.
"""

from __future__ import annotations

import json
from typing import Any, Final

from rooms.directory import RoomDirectory
from server.state import AppState

MINE_TTL_S: Final = 3 * 3600  # longer than any room lives (the reaper ends older ones)
MAX_ROOMS_PER_PLAYER: Final = 16  # a player has one ticket at a time: a few rooms at most


def _key(state: AppState, user_id: str) -> str:
    return f"{state.settings.redis_prefix}:play:mine:{user_id}"


def write_into(pipe: Any, state: AppState, user_id: str, room_id: str,
               entry: dict[str, Any]) -> None:
    """Queue "`user_id` sits in `room_id`" on `pipe` (the pairing's one MULTI).

    Adds three commands; the last (HLEN) answers the count `keep_bounded` needs.
    """
    key = _key(state, user_id)
    pipe.hset(key, room_id, json.dumps(entry))
    pipe.expire(key, MINE_TTL_S)
    pipe.hlen(key)


async def keep_bounded(state: AppState, user_id: str, room_id: str, entry: dict[str, Any],
                       count: int) -> None:
    """After `write_into`: far past any real use (`count` rooms), start the hash afresh."""
    if count <= MAX_ROOMS_PER_PLAYER:
        return
    key = _key(state, user_id)
    await state.redis.delete(key)
    await state.redis.hset(key, room_id, json.dumps(entry))


async def live_rooms(
    state: AppState, directory: RoomDirectory, user_id: str
) -> list[dict[str, Any]]:
    """The player's rooms that are still live (any node), oldest first; closed ones are dropped.

    Each item: room_id, game, node, ws_url, phase, stake_minor, currency, opponent names.
    """
    key = _key(state, user_id)
    raw = await state.redis.hgetall(key)
    items: list[dict[str, Any]] = []
    gone: list[bytes | str] = []
    for room_key, value in list(raw.items())[: MAX_ROOMS_PER_PLAYER * 2]:
        room_id = room_key.decode() if isinstance(room_key, bytes) else str(room_key)
        entry = await directory.get(room_id)
        if entry is None or entry.info.get("phase") in ("finished", "aborted"):
            gone.append(room_key)
            continue
        saved = json.loads(value)
        items.append({**saved, "room_id": room_id, "game": entry.info.get("game"),
                      "node": entry.info.get("node"), "phase": entry.info.get("phase"),
                      "seq": entry.info.get("seq")})
    if gone:
        await state.redis.hdel(key, *gone)
    items.sort(key=lambda i: int(i.get("created_ms") or 0))
    return items
