"""Websocket messages of wagers (docs/protocol.md, "Wagers").

`wager_enter` seats a player in their match room (no seat token: the seat is
the authenticated player's own, and a resumed room has no tokens), resuming
the room from Postgres if this node owns it and it is not live. The room's
own frames (`wager_ready`, `wager_chat`, `wager_report`, `wager_dispute`,
`wager_cancel`) are routed by the play feature like any kind's messages.
"""

from __future__ import annotations

import uuid
from typing import Any

from matchmaking.errors import MatchmakingError
from rooms.errors import RoomError
from server.errors import ApiError
from server.features.play.service import service as play_service
from server.features.wagers import challenges
from server.features.wagers.service import LobbyFull, wagers
from server.gateway.registry import Connection, FrameError, field, register


def _frame_error(exc: ApiError) -> FrameError:
    return FrameError(exc.code, exc.msg)


async def wager_enter(conn: Connection, frame: dict[str, Any]) -> dict[str, Any]:
    room_id = field(frame, "room_id", str)
    since_seq = field(frame, "since_seq", int, required=False)
    svc = wagers(conn.state)
    room = await svc.ensure_room(room_id)
    if room is None:
        node = await conn.state.pool.fetchval(
            "SELECT node FROM wager_matches WHERE room_id = $1 AND status <> 'settled'"
            " AND players @> ARRAY[$2::uuid]", room_id, conn.user_id)
        if node is not None and node != conn.state.settings.node_id:
            raise FrameError("wrong_node", f"Match {room_id} is hosted on node {node}.")
        raise FrameError("room_not_found", "That match is not live.")
    if conn.user_id not in room.seats:
        raise FrameError("not_seated", "You have no seat in that match.")
    try:
        await room.join(conn.user_id, conn.conn_id, conn.send, last_seq=since_seq)
    except RoomError as exc:
        raise FrameError(exc.code, exc.message) from exc
    play = play_service(conn.state)
    mine = play.conn_rooms.setdefault(conn.conn_id, set())
    mine -= {r for r in mine if play.rooms.find(r) is None}
    mine.add(room_id)  # the play feature's disconnect hook starts the grace window
    return {"t": "wager_entered", "room_id": room_id}


async def wager_lobby_watch(conn: Connection, frame: dict[str, Any]) -> dict[str, Any]:
    """The open challenges now, and `wager_lobby` pushes for `lobby_watch_s` after."""
    mode = field(frame, "mode", str, required=False)
    platform = field(frame, "platform", str, required=False)
    svc = wagers(conn.state)
    try:
        until = await svc.watch_lobby(conn.user_id)
    except LobbyFull as exc:
        raise FrameError("lobby_full", str(exc).capitalize() + ".") from exc
    items = await challenges.list_open(svc, conn.user_id, mode, platform, challenges.MAX_LOBBY)
    return {"t": "wager_lobby_items", "items": items, "watch_until_ms": until}


async def wager_accept(conn: Connection, frame: dict[str, Any]) -> dict[str, Any]:
    """Accept a challenge over the socket (same rules as the HTTP route)."""
    raw = field(frame, "challenge_id", str)
    try:
        challenge_id = uuid.UUID(raw)
    except ValueError as exc:
        raise FrameError("challenge_not_found", "That challenge does not exist.") from exc
    try:
        match, _room = await challenges.accept_challenge(
            wagers(conn.state), conn.user_id, challenge_id, ip="", device="")
    except ApiError as exc:
        raise _frame_error(exc) from exc
    return {"t": "wager_accepted", **match}


async def wager_queue_join(conn: Connection, frame: dict[str, Any]) -> dict[str, Any]:
    """Queue for a wager by mode, platform and stake; the stake is held until the match ends."""
    mode = field(frame, "mode", str)
    platform = field(frame, "platform", str)
    stake_minor = field(frame, "stake_minor", int)
    svc = wagers(conn.state)
    if conn.state.draining or svc.queues is None:
        raise FrameError("node_draining", "This server is restarting; try again in a moment.")
    if mode not in svc.settings.modes or platform not in svc.settings.platforms:
        raise FrameError("invalid_field", "Unknown mode or platform.")
    try:
        ticket = await svc.queues.join(conn.user_id, mode, platform, stake_minor)
    except ApiError as exc:
        raise _frame_error(exc) from exc
    except MatchmakingError as exc:
        raise FrameError(exc.code, str(exc)) from exc
    return {"t": "wager_queued", "ticket_id": ticket.id, "mode": mode, "platform": platform,
            "stake_minor": stake_minor, "currency": ticket.currency,
            "max_wait_s": svc.settings.queue_max_wait_s}


async def wager_queue_leave(conn: Connection, frame: dict[str, Any]) -> dict[str, Any]:
    svc = wagers(conn.state)
    assert svc.queues is not None
    try:
        ticket = await svc.queues.leave(conn.user_id)
    except MatchmakingError as exc:
        raise FrameError(exc.code, str(exc)) from exc
    return {"t": "wager_queue_left", "ticket_id": ticket.id}


register("wager_enter", wager_enter)
register("wager_queue_join", wager_queue_join)
register("wager_queue_leave", wager_queue_leave)
register("wager_lobby_watch", wager_lobby_watch)
register("wager_accept", wager_accept)
