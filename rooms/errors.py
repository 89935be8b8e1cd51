"""Typed room errors. Each carries a stable snake_case `code` the edge returns as-is."""

from __future__ import annotations


class RoomError(Exception):
    """Base of every room failure."""

    code = "room_error"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code


class GameError(RoomError):
    """A player's request broke a game rule (late answer, wrong question, ...); nothing changed."""

    code = "game_error"


class NotSeated(RoomError):
    code = "not_seated"


class RoomNotFound(RoomError):
    code = "room_not_found"


class RoomClosed(RoomError):
    """The room has finished or been aborted and takes no more input."""

    code = "room_closed"


class RoomBusy(RoomError):
    """The room's input queue is full; the sender should slow down."""

    code = "room_busy"


class NodeFull(RoomError):
    """This node is at its room or seat limit."""

    code = "node_full"


class TooManyRooms(NodeFull):
    code = "node_rooms_full"


class TooManySeats(NodeFull):
    code = "node_seats_full"


class NodeDraining(RoomError):
    """This node is shutting down and takes no new rooms."""

    code = "node_draining"


class UnknownGame(RoomError):
    code = "unknown_game"


class InvalidMatch(RoomError):
    """A match spec cannot make a room (no seats, a seat twice, mixed currencies)."""

    code = "invalid_match"
