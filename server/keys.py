"""Every Redis key and pub/sub channel name of the process, in one place.

All names start with `settings.redis_prefix`, so several deployments (or test
runs) can share one Redis without seeing each other's data.
"""

from __future__ import annotations


def user_channel(prefix: str, user_id: str) -> str:
    """Pub/sub channel carrying frames for one player's websockets on any node."""
    return f"{prefix}:ws:user:{user_id}"


def node_channel(prefix: str, node_id: str) -> str:
    """Pub/sub channel addressed to one server node (keeps its subscriber connection alive)."""
    return f"{prefix}:ws:node:{node_id}"


def play_rooms(prefix: str) -> str:
    """Sorted set: ids of rooms with stakes at risk, scored by creation ms (until they close)."""
    return f"{prefix}:play:rooms"


def play_room(prefix: str, room_id: str) -> str:
    """String (JSON): a room's node and seats with their holds, to void if the node dies."""
    return f"{prefix}:play:room:{{{room_id}}}"


def revoked_session(prefix: str, session_id: str) -> str:
    """String: present while a logged-out session's access tokens may still be unexpired."""
    return f"{prefix}:auth:revoked:{session_id}"


def rate_counter(prefix: str, name: str, subject: str) -> str:
    """String (integer, with a TTL): attempts of limit `name` by `subject` in the window."""
    return f"{prefix}:limit:{name}:{subject}"
