"""Matchmaking: tickets in Redis queues, atomic pairing in Lua, widening windows, timeouts.

Imports nothing else from the project: money comes in through a `StakeHolder`,
room placement through a `RoomPlacer`, and pairings go out through `on_match`.
"""

from matchmaking.config import MatchConfig
from matchmaking.errors import (
    AlreadyQueued,
    GameNotOffered,
    HoldRefused,
    InvalidJoin,
    MatchmakingError,
    NotQueued,
    QueueFull,
    ServiceUnavailable,
    StakeNotOffered,
)
from matchmaking.keys import Keys, QueueKeys, QueueSpec
from matchmaking.matchmaker import Matchmaker
from matchmaking.types import (
    Clock,
    HoldBatchInspector,
    HoldInspector,
    HoldState,
    Match,
    MatchHandler,
    RoomPlacer,
    SeatClaim,
    SeatReservation,
    StakeHolder,
    StakeVetter,
    Ticket,
)

__all__ = [
    "AlreadyQueued",
    "Clock",
    "GameNotOffered",
    "HoldBatchInspector",
    "HoldInspector",
    "HoldRefused",
    "HoldState",
    "InvalidJoin",
    "Keys",
    "Match",
    "MatchConfig",
    "MatchHandler",
    "Matchmaker",
    "MatchmakingError",
    "NotQueued",
    "QueueFull",
    "QueueKeys",
    "QueueSpec",
    "RoomPlacer",
    "SeatClaim",
    "SeatReservation",
    "ServiceUnavailable",
    "StakeHolder",
    "StakeNotOffered",
    "StakeVetter",
    "Ticket",
]
