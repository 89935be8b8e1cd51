"""Value types shared by the runtime and the games: what a match hands to a room."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from rooms.errors import InvalidMatch


@dataclass(frozen=True, slots=True)
class HeldStake:
    """One seat's stake, already held in the ledger by matchmaking (user -> escrow)."""

    user_id: str
    hold_id: uuid.UUID
    stake_minor: int
    currency: str


@dataclass(frozen=True, slots=True)
class MatchSpec:
    """Everything a room needs from a pairing: who sits where and what each has at stake.

    The server builds this from a matchmaking seat reservation, so rooms/ needs
    no import of matchmaking internals.
    """

    room_id: str
    game: str
    seats: tuple[HeldStake, ...]
    options: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.room_id or len(self.room_id) > 128:
            raise InvalidMatch("a room id is 1 to 128 characters")
        if not self.seats:
            raise InvalidMatch("a match needs at least one seat")
        users = [s.user_id for s in self.seats]
        if len(set(users)) != len(users):
            raise InvalidMatch("a player cannot take two seats in one room")
        if len({s.currency for s in self.seats}) != 1:
            raise InvalidMatch("every stake in a room must be in one currency")
        if any(s.stake_minor < 0 for s in self.seats):
            raise InvalidMatch("a stake cannot be negative")

    @property
    def user_ids(self) -> tuple[str, ...]:
        return tuple(s.user_id for s in self.seats)

    @property
    def currency(self) -> str:
        return self.seats[0].currency

    def stake_of(self, user_id: str) -> HeldStake:
        for s in self.seats:
            if s.user_id == user_id:
                return s
        raise KeyError(user_id)
