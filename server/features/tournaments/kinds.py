"""How a tournament match is played: the `MatchKind` interface, and quiz duels behind it.

A tournament decides who meets whom; a match kind makes the two of them play
and says how it ended. The entry fee is the only stake: a match kind never
moves money. Quiz duels run in an ordinary quiz room with two zero-stake
seats; the room settles (nothing to move, the history row is written) and the
kind reads the room's `Settled` and who ever sat down.

Wager matches plug in later through the same interface (docs/tournaments.md,
"Match kinds"): `start` opens the wager room for the pair with no stake,
`outcome` waits for the reported (or ruled) result and maps it to
`MatchOutcome`, `cancel` voids it. Nothing else in the tournament changes.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Protocol

from rooms.types import HeldStake, MatchSpec
from server.features.play.service import PlayService

STAKELESS = uuid.UUID("6f1d3a52-8c1e-4b9a-9d0e-7a4a6c2b1f00")


@dataclass(frozen=True, slots=True)
class MatchOutcome:
    """How one played match ended, as the tournament needs it.

    `winner` None with `aborted` False is a tie (or nobody won); `joined` says who
    ever took their seat, so a no-show can be told from a tie.
    """

    winner: str | None
    result: str  # the room's word: win, tie_refund, no_show, aborted, ...
    joined: frozenset[str]
    aborted: bool = False


@dataclass(frozen=True, slots=True)
class MatchTicket:
    """What a started match gives the players: where to sit."""

    room_id: str
    game: str
    node: str


class MatchKind(Protocol):
    """A way to play a tournament match (quiz duel now; wager matches later)."""

    name: str

    def start(self, tournament_id: str, match_id: str, attempt: int, a: str, b: str,
              currency: str) -> MatchTicket:
        """Open the match for `a` and `b` (idempotent per attempt); no money moves."""
        ...

    async def outcome(self, ticket: MatchTicket) -> MatchOutcome:
        """Wait until the match is over and say how it ended."""
        ...

    async def cancel(self, ticket: MatchTicket, reason: str) -> None:
        """Stop an open match (disqualification, cancellation); its outcome is then ignored."""
        ...


def room_id_of(tournament_id: str, match_id: str, attempt: int) -> str:
    return f"t{uuid.UUID(tournament_id).hex}-{match_id}-{attempt}"


class QuizDuelKind:
    """Tournament matches as quiz duels on this node's room manager."""

    name = "quiz"

    def __init__(self, play: PlayService) -> None:
        self.play = play

    def start(self, tournament_id: str, match_id: str, attempt: int, a: str, b: str,
              currency: str) -> MatchTicket:
        room_id = room_id_of(tournament_id, match_id, attempt)
        seats = tuple(HeldStake(u, uuid.uuid5(STAKELESS, f"{room_id}:{u}"), 0, currency)
                      for u in (a, b))
        spec = MatchSpec(room_id, self.name, seats, options={
            "stakeless": True, "tournament_id": tournament_id, "match_id": match_id})
        self.play.rooms.create(spec)
        return MatchTicket(room_id, self.name, self.play.state.settings.node_id)

    async def outcome(self, ticket: MatchTicket) -> MatchOutcome:
        room = self.play.rooms.find(ticket.room_id)
        if room is None:
            return MatchOutcome(None, "aborted", frozenset(), aborted=True)
        await room.wait_closed()
        joined = frozenset(u for u, s in room.seats.items() if s.joined_ever)
        settled = room.settled
        if settled is None:
            return MatchOutcome(None, "aborted", joined, aborted=True)
        return MatchOutcome(settled.winner, settled.outcome.result, joined)

    async def cancel(self, ticket: MatchTicket, reason: str) -> None:
        room = self.play.rooms.find(ticket.room_id)
        if room is not None:
            await room.abort(reason)
