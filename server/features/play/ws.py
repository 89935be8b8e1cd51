"""Websocket messages of live play for every room kind: queue, seat, play, history.

`queue_join` names the kind (`game`); a seated player's game frames (the quiz's
`quiz_answer`, any kind's own `message_types`) are routed to their room by
`room_id`, so a new kind needs no handler here (docs/protocol.md).
"""

from __future__ import annotations

from typing import Any

from matchmaking.errors import MatchmakingError
from rooms.errors import RoomError
from rooms.history import BadCursor, duel_history
from server.features.play.service import PLAY, PlayService, service
from server.gateway.registry import Connection, FrameError, field, on_disconnect, register

MAX_HISTORY = 100


def _play(conn: Connection) -> PlayService:
    return service(conn.state)


async def queue_join(conn: Connection, frame: dict[str, Any]) -> dict[str, Any]:
    """Hold the stake and wait for an opponent; the stake stays held until the duel ends."""
    game = field(frame, "game", str)
    stake_minor = field(frame, "stake_minor", int)
    play = _play(conn)
    if conn.state.draining:
        raise FrameError("node_draining", "This server is restarting; try again in a moment.")
    try:
        kind = play.kind(game)
        ticket = await kind.matchmaker.join(
            conn.user_id, game, stake_minor, conn.state.settings.currency
        )
    except MatchmakingError as exc:
        raise FrameError(exc.code, str(exc)) from exc
    return {
        "t": "queued", "ticket_id": ticket.id, "game": game, "stake_minor": stake_minor,
        "currency": ticket.currency, "queued_at_ms": ticket.created_ms,
        "max_wait_s": kind.matchmaker.config.max_wait_s,
    }


async def queue_leave(conn: Connection, frame: dict[str, Any]) -> dict[str, Any]:
    """Leave the queue; the held stake is released at once."""
    try:
        ticket = await _play(conn).matchmaker.leave(conn.user_id)
    except MatchmakingError as exc:
        raise FrameError(exc.code, str(exc)) from exc
    return {"t": "queue_left", "ticket_id": ticket.id}


async def room_join(conn: Connection, frame: dict[str, Any]) -> dict[str, Any]:
    """Take a seat with the one-time token from `match_found`, or come back to it later.

    A seated player reconnecting within the grace window needs no token; with
    `since_seq` they receive only the frames they missed after `room_state`.
    """
    room_id = field(frame, "room_id", str)
    token = field(frame, "seat_token", str, required=False)
    since_seq = field(frame, "since_seq", int, required=False)
    play = _play(conn)
    room = play.rooms.find(room_id)
    if room is None:
        entry = await play.directory.get(room_id)
        if entry is not None and entry.info.get("node") != conn.state.settings.node_id:
            raise FrameError("wrong_node", f"Room {room_id} lives on node {entry.info['node']}.")
        raise FrameError("room_not_found", "That room is not live.")
    if conn.user_id not in room.seats:
        raise FrameError("not_seated", "You have no seat in that room.")
    if not room.seats[conn.user_id].joined_ever:
        if token is None:
            raise FrameError("seat_token_required", "Use the seat token from match_found.")
        claim = await play.matchmaker.consume_seat(token)
        if claim is None or claim.room_id != room_id or claim.user_id != conn.user_id:
            raise FrameError("seat_token_invalid", "That seat token is not valid for you.")
    try:
        await room.join(conn.user_id, conn.conn_id, conn.send, last_seq=since_seq)
    except RoomError as exc:
        raise FrameError(exc.code, exc.message) from exc
    mine = play.conn_rooms.setdefault(conn.conn_id, set())
    mine -= {r for r in mine if play.rooms.find(r) is None}  # closed rooms: stay bounded
    mine.add(room_id)
    return {"t": "room_joined", "room_id": room_id, "game": room.spec.game}


async def room_message(conn: Connection, frame: dict[str, Any]) -> dict[str, Any] | None:
    """A seated player's game frame (e.g. `quiz_answer`), stamped on arrival by the room clock.

    The game checks the frame's own fields and answers with its reply or a
    `GameError` (a stable code, nothing changed).
    """
    room_id = field(frame, "room_id", str)
    room = _play(conn).rooms.find(room_id)
    if room is None:
        raise FrameError("room_not_found", "That room is not live.")
    try:
        reply = await room.message(conn.user_id, {k: v for k, v in frame.items() if k != "rid"})
    except RoomError as exc:
        raise FrameError(exc.code, exc.message) from exc
    return reply


async def history(conn: Connection, frame: dict[str, Any]) -> dict[str, Any]:
    """The player's past duels, newest first, paged by cursor."""
    limit = field(frame, "limit", int, required=False, default=20)
    before = field(frame, "before", str, required=False)
    if not 1 <= limit <= MAX_HISTORY:
        raise FrameError("invalid_field", f"'limit' must be 1 to {MAX_HISTORY}.")
    try:
        items = await duel_history(conn.state.pool, conn.user_id, limit, before)
    except BadCursor as exc:
        raise FrameError("bad_cursor", str(exc)) from exc
    return {
        "t": "duel_history", "items": [i.to_dict() for i in items],
        "next": items[-1].cursor if len(items) == limit else None,
    }


async def my_rooms(conn: Connection, frame: dict[str, Any]) -> dict[str, Any]:
    """The caller's live rooms on any node (to resume a duel after a reload), and their
    queue ticket if they are waiting for an opponent."""
    from server.features.play import mine

    play = _play(conn)
    ticket = await play.matchmaker.ticket_of(conn.user_id)
    return {
        "t": "my_rooms", "items": await mine.live_rooms(conn.state, play.directory, conn.user_id),
        "queued": None if ticket is None else {
            "ticket_id": ticket.id, "game": ticket.queue.game,
            "stake_minor": ticket.queue.stake_minor, "queued_at_ms": ticket.created_ms},
    }


async def left(conn: Connection) -> None:
    """A connection ended: its seats start their grace window."""
    play = conn.state.find(PLAY)
    if play is None:
        return
    for room_id in play.conn_rooms.pop(conn.conn_id, set()):
        room = play.rooms.find(room_id)
        if room is not None:
            await room.leave(conn.user_id, conn.conn_id)


def route_game_messages(play: PlayService) -> None:
    """Send every registered kind's message types to its rooms (called once kinds load)."""
    for kind in play.kinds.values():
        for t in kind.kind.message_types:
            register(t, room_message)


register("queue_join", queue_join)
register("queue_leave", queue_leave)
register("room_join", room_join)
register("duel_history", history)
register("my_rooms", my_rooms)
on_disconnect(left)
