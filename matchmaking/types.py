"""Values matchmaking hands out, and the two small interfaces it is given."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol, runtime_checkable

from matchmaking.keys import QueueSpec


@dataclass(frozen=True, slots=True)
class Ticket:
    """A player waiting in one queue with their stake held."""

    id: str
    user_id: str
    queue: QueueSpec
    rating: int
    created_ms: int
    node: str
    hold_id: str

    @property
    def stake_minor(self) -> int:
        return self.queue.stake_minor

    @property
    def currency(self) -> str:
        return self.queue.currency


@dataclass(frozen=True, slots=True)
class SeatReservation:
    """What one player needs to take their seat: where, and a one-time token."""

    room_id: str
    user_id: str
    ticket_id: str
    node_url: str
    seat_token: str
    expires_at_ms: int


@dataclass(frozen=True, slots=True)
class SeatClaim:
    """A consumed seat token: the room and seat it was for."""

    room_id: str
    user_id: str
    ticket_id: str
    expires_at_ms: int


@dataclass(frozen=True, slots=True)
class Match:
    """Two tickets paired into one room. `room_id` is unique per pairing, even if redelivered."""

    room_id: str
    queue: QueueSpec
    tickets: tuple[Ticket, Ticket]
    reservations: tuple[SeatReservation, SeatReservation]
    created_ms: int


class StakeHolder(Protocol):
    """Money for matchmaking. Every call is idempotent by `ticket_id`: a retry changes nothing."""

    async def hold(
        self, ticket_id: str, user_id: str, stake_minor: int, currency: str, timeout_s: int
    ) -> str:
        """Reserve the stake and return the hold id; raise HoldRefused if it cannot."""
        ...

    async def release(self, ticket_id: str, hold_id: str) -> None:
        """Void the hold: the stake goes back to the player."""
        ...

    async def refund_with_bonus(
        self, ticket_id: str, hold_id: str, user_id: str, stake_minor: int, currency: str,
        bonus_bp: int,
    ) -> None:
        """Void the hold and pay `bonus_bp` basis points of the stake from the house, once."""
        ...


HoldState = Literal["held", "voided", "expired", "settled", "missing"]
"""Where a hold stands: still held; voided by its ticket (a leave, an abandoned join or a
timeout refund); expired (past its timeout, swept or not); settled by a room (posted, or
voided by the room's own settlement); missing (never made)."""


@runtime_checkable
class HoldInspector(Protocol):
    """Optional StakeHolder capability: report a hold's state.

    With it the matchmaker refuses to seat a ticket whose hold is gone (a join that was
    abandoned after its ENQUEUE's reply was lost, docs/matchmaking.md) and pays no timeout
    bonus for such a ticket. Without it every ticket's hold is trusted.
    """

    async def hold_state(self, ticket_id: str, hold_id: str) -> HoldState:
        """The hold's state now; a read, never a change."""
        ...


@runtime_checkable
class HoldBatchInspector(Protocol):
    """Optional StakeHolder capability: the states of many holds in one read.

    A pairing round checks both holds of every pairing it made; one read for the whole
    round instead of one (or three) per ticket keeps `match_found` prompt when a round
    pairs a hundred tickets at once.
    """

    async def hold_states(self, holds: Sequence[tuple[str, str]]) -> list[HoldState]:
        """The state of each (ticket_id, hold_id), in order; a read, never a change."""
        ...


@runtime_checkable
class StakeVetter(Protocol):
    """Optional StakeHolder capability: may this player stake this much at all?

    The operator's and the player's own rules (exclusion, suspension, daily limits) are
    a read: the matchmaker asks it while the player's claim is being taken, in the same
    moment, instead of after it. Its refusal ends the join before any money moves.
    """

    async def vet(self, user_id: str, stake_minor: int, currency: str) -> None:
        """Return if the stake may be held; raise the refusal otherwise."""
        ...


RoomPlacer = Callable[[QueueSpec, str], Awaitable[str]]
"""Chooses the node (its public URL) that will host a new room: (queue, room_id) -> url."""

MatchHandler = Callable[[Match], Awaitable[None]]
"""Receives every pairing; must be idempotent by room_id (a pairing may be redelivered)."""

Clock = Callable[[], int]
"""Milliseconds since the epoch (or any fixed origin shared by every process)."""
