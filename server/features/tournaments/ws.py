"""Websocket messages of tournaments (docs/protocol.md, "Tournaments").

Requests: `tournament_register`, `tournament_leave`, `tournament_checkin`,
`tournament_seat` (sit in your started match's room), `tournament_watch` /
`tournament_unwatch` (the live bracket). Pushes: `tournament_update` and
`tournament_state` (the bracket feed), `tournament_match_ready`,
`tournament_match_started`, `tournament_match_result`, `tournament_finished`,
`tournament_cancelled`, `tournament_dropped`, `tournament_checkin_open`.
"""

from __future__ import annotations

from typing import Any

from rooms.errors import RoomError
from server.features.play.service import PLAY
from server.features.tournaments.service import TOURNAMENTS, TournamentService
from server.gateway.registry import Connection, FrameError, field, on_disconnect, register


def _service(conn: Connection) -> TournamentService:
    service = conn.state.find(TOURNAMENTS)
    if service is None:
        raise FrameError("tournaments_off", "Tournaments are not offered here.")
    return service


def _tid(frame: dict[str, Any]) -> str:
    tid = field(frame, "tournament_id", str)
    if len(tid) > 64:
        raise FrameError("invalid_field", "'tournament_id' is too long.")
    return str(tid)


async def tournament_register(conn: Connection, frame: dict[str, Any]) -> dict[str, Any]:
    """Enter a tournament; the entry fee is held until the start (or returned on leaving)."""
    return await _service(conn).register(conn.user_id, _tid(frame))


async def tournament_leave(conn: Connection, frame: dict[str, Any]) -> dict[str, Any]:
    return await _service(conn).leave(conn.user_id, _tid(frame))


async def tournament_checkin(conn: Connection, frame: dict[str, Any]) -> dict[str, Any]:
    """Check in to the tournament (during check-in) or to your ready match (during rounds)."""
    return await _service(conn).checkin(conn.user_id, _tid(frame))


async def tournament_seat(conn: Connection, frame: dict[str, Any]) -> dict[str, Any]:
    """Sit in your started match's room; coming back later works with `room_join` too."""
    since_seq = field(frame, "since_seq", int, required=False)
    ticket = await _service(conn).seat(conn.user_id, _tid(frame))
    play = conn.state.need(PLAY)
    room = play.rooms.find(ticket.room_id)
    if room is None:
        raise FrameError("room_not_found", "That match's room is not live.")
    try:
        await room.join(conn.user_id, conn.conn_id, conn.send, last_seq=since_seq)
    except RoomError as exc:
        raise FrameError(exc.code, exc.message) from exc
    mine = play.conn_rooms.setdefault(conn.conn_id, set())
    mine -= {r for r in mine if play.rooms.find(r) is None}
    mine.add(ticket.room_id)
    return {"t": "room_joined", "room_id": ticket.room_id, "game": ticket.game}


async def tournament_watch(conn: Connection, frame: dict[str, Any]) -> dict[str, Any]:
    """Follow the live bracket; with `since_seq`, only the updates missed since then."""
    since_seq = field(frame, "since_seq", int, required=False)
    return _service(conn).watch(conn.conn_id, _tid(frame), conn.send, since_seq)


async def tournament_unwatch(conn: Connection, frame: dict[str, Any]) -> dict[str, Any]:
    _service(conn).unwatch(conn.conn_id, _tid(frame))
    return {"t": "tournament_unwatched", "tournament_id": _tid(frame)}


async def left(conn: Connection) -> None:
    service = conn.state.find(TOURNAMENTS)
    if service is not None:
        service.unwatch(conn.conn_id)


register("tournament_register", tournament_register)
register("tournament_leave", tournament_leave)
register("tournament_checkin", tournament_checkin)
register("tournament_seat", tournament_seat)
register("tournament_watch", tournament_watch)
register("tournament_unwatch", tournament_unwatch)
on_disconnect(left)
