"""Every Redis key the rooms use, in one place. All start with the configured prefix.

Per-room keys carry the room id in a hash tag so a Redis Cluster keeps them together.
"""

from __future__ import annotations


def room(prefix: str, room_id: str) -> str:
    """String (JSON): the directory entry, `{"info": RoomInfo, "snap": {seq, phase, state}}`.

    One key per room: an update is one write, and a reader gets the place and the
    public state of the same moment.
    """
    return f"{prefix}:rooms:{{{room_id}}}:entry"


def live(prefix: str) -> str:
    """Sorted set: live room ids scored by the ms their entry expires."""
    return f"{prefix}:rooms:live"


def node(prefix: str, node_id: str) -> str:
    """String with a TTL: the node's heartbeat."""
    return f"{prefix}:rooms:node:{node_id}"


def seen_questions(prefix: str, user_id: str) -> str:
    """List: question ids a player saw recently, newest first (bounded)."""
    return f"{prefix}:quiz:seen:{{{user_id}}}"
