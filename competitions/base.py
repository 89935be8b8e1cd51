"""What every format offers the server: ready matches, results, withdrawals, standings."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

from competitions.types import CompetitionError, Decided, Pairing, Result

MAX_CASCADE = 100_000  # forfeits one call may decide (each player at most once per match)


class Competition(ABC):
    """A format's state machine. Players are ids in seed order (best first).

    `ready()` lists matches to play now; `report()` records a result and returns
    every match it decided (forfeits of withdrawn players cascade); `standings()`
    ranks everyone as groups of tied players, best first. A player appears in at
    most one ready match at a time.
    """

    kind: str = "competition"

    def __init__(self, players: list[str]) -> None:
        self.players: list[str] = list(players)
        self.withdrawn: set[str] = set()

    # ----- what the server calls -----

    @abstractmethod
    def ready(self) -> list[Pairing]:
        """Matches whose players are known and which have no result yet."""

    @abstractmethod
    def _record(self, match_id: str, result: Result, *, replace: bool) -> None:
        """Store one result (checked); `replace` overwrites an earlier one if allowed."""

    @staticmethod
    def _is_new(earlier: Result | None, result: Result, *, replace: bool) -> bool:
        """The one rule of every format for a result arriving: the same result again is a
        replay (False: nothing to do); another one needs `replace`; `replace` needs one."""
        if earlier is not None:
            if earlier == result:
                return False
            if not replace:
                raise CompetitionError("result_exists", "that match already has a result")
        elif replace:
            raise CompetitionError("no_result", "that match has no result to replace")
        return True

    @property
    @abstractmethod
    def finished(self) -> bool: ...

    @abstractmethod
    def standings(self) -> list[list[str]]:
        """Every player, ranked as groups of tied players (best group first)."""

    @abstractmethod
    def byes(self) -> list[tuple[int, str]]:
        """(round, player) of every bye given so far."""

    @abstractmethod
    def played(self) -> list[tuple[Pairing, Result]]:
        """Every match with a result, in the order they were paired."""

    @abstractmethod
    def state(self) -> dict[str, Any]:
        """The whole state as JSON-able data (`from_state` restores it)."""

    @abstractmethod
    def view(self) -> dict[str, Any]:
        """The public bracket or table for players and spectators."""

    def report(self, match_id: str, result: Result) -> Decided:
        """Record the result of a ready match; forfeits it unlocks follow. Idempotent per value."""
        self._record(match_id, result, replace=False)
        return [(match_id, result), *self._forfeits()]

    def replace(self, match_id: str, result: Result) -> Decided:
        """An admin's correction of a played match, refused once later play depends on it."""
        self._record(match_id, result, replace=True)
        return [(match_id, result), *self._forfeits()]

    def withdraw(self, player: str) -> Decided:
        """Take a player out (no-show, disqualification): their open matches are forfeited."""
        if player not in self.players:
            raise CompetitionError("not_entered", "that player is not in this tournament")
        self.withdrawn.add(player)
        return self._forfeits()

    def alive(self) -> list[str]:
        """Players who can still play a match (elimination formats override)."""
        return [p for p in self.players if p not in self.withdrawn]

    # ----- shared -----

    def seed_of(self, player: str) -> int:
        return self.players.index(player)

    def _forfeit_result(self, m: Pairing) -> Result:
        a_out, b_out = m.a in self.withdrawn, m.b in self.withdrawn
        assert a_out or b_out
        if a_out and b_out:
            return self._double_forfeit(m)
        return Result(m.b if a_out else m.a, forfeit=True)

    def _double_forfeit(self, m: Pairing) -> Result:
        """Both players are out: a double forfeit (elimination overrides: the better seed)."""
        return Result(None, forfeit=True)

    def _forfeits(self) -> Decided:
        decided: Decided = []
        for _ in range(MAX_CASCADE):
            pending = [m for m in self.ready() if m.a in self.withdrawn or m.b in self.withdrawn]
            if not pending:
                return decided
            m = pending[0]
            result = self._forfeit_result(m)
            self._record(m.match_id, result, replace=False)
            decided.append((m.match_id, result))
        raise AssertionError("forfeits did not converge")
