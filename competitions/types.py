"""Value types every tournament format shares: a match to play, its result, a standing.

Formats are plain state machines with no I/O: the server feeds them results and
asks which matches are ready, so a property test can play thousands of whole
tournaments in a second. Their whole state is JSON (`to_state`/`from_state`),
so the server stores it in one row and a restart resumes exactly where it was.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

MAX_PLAYERS = 4_096  # a bound on every field (a 4,096-player bracket is 12 rounds)
WIN, DRAW, LOSS = 2, 1, 0  # points are counted in half points: a win is 2, a draw 1


class CompetitionError(ValueError):
    """A request the format refuses (unknown match, result already locked, ...).

    `code` is stable snake_case; the server turns it into the player-facing error.
    """

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True, slots=True)
class Pairing:
    """A match whose two players are known and which has no result yet."""

    match_id: str
    round: int
    a: str
    b: str
    bracket: str = "main"  # winners, losers, final, swiss, group label

    def has(self, player: str) -> bool:
        return player in (self.a, self.b)

    def other(self, player: str) -> str:
        assert self.has(player)
        return self.b if player == self.a else self.a

    def to_dict(self) -> dict[str, Any]:
        return {"match_id": self.match_id, "round": self.round, "a": self.a, "b": self.b,
                "bracket": self.bracket}


@dataclass(frozen=True, slots=True)
class Result:
    """How a match ended. `winner` None is a draw, or with `forfeit` a double forfeit."""

    winner: str | None
    forfeit: bool = False  # decided by a no-show, a withdrawal or a disqualification

    def points(self, a: str, b: str) -> tuple[int, int]:
        """(a's, b's) half points: win 2, draw 1, loss or double forfeit 0."""
        if self.winner is None:
            return (LOSS, LOSS) if self.forfeit else (DRAW, DRAW)
        assert self.winner in (a, b)
        return (WIN, LOSS) if self.winner == a else (LOSS, WIN)

    def to_dict(self) -> dict[str, Any]:
        return {"winner": self.winner, "forfeit": self.forfeit}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Result:
        return cls(data.get("winner"), bool(data.get("forfeit", False)))


Decided = list[tuple[str, Result]]
"""The matches a call decided (the one reported plus any forfeits it caused), in order."""


def check_players(players: list[str]) -> None:
    """A field: 2 to MAX_PLAYERS distinct non-empty ids, in seed order (best first)."""
    if not 2 <= len(players) <= MAX_PLAYERS:
        raise CompetitionError("field_size", f"a tournament needs 2 to {MAX_PLAYERS} players")
    if len(set(players)) != len(players) or not all(players):
        raise CompetitionError("field_players", "every player is listed once")
