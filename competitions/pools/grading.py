"""Grading a selection against a final score: win, loss, push or void, and what it returns.

Markets (The Odds API keys in brackets):
- moneyline (h2h): a side wins if its team scores more. Two-way (no draw offered): a tie is
  a push (the stake comes back). Three-way: the draw selection wins a tie; the teams lose.
- spread (spreads): the team's score plus its line against the opponent's score: more is a
  win, less a loss, equal a push. A half-point line (e.g. -3.5) can never push.
- total (totals): the sum of both scores over or under the line; equal is a push.
An event postponed or cancelled voids every bet on it (the stake comes back).
Lines are kept in tenths of a point as integers (-3.5 -> -35), so equality is exact.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Market(StrEnum):
    MONEYLINE = "moneyline"
    SPREAD = "spread"
    TOTAL = "total"


class Side(StrEnum):
    HOME = "home"
    AWAY = "away"
    DRAW = "draw"
    OVER = "over"
    UNDER = "under"


class Grade(StrEnum):
    WIN = "win"
    LOSS = "loss"
    PUSH = "push"
    VOID = "void"


class EventStatus(StrEnum):
    SCHEDULED = "scheduled"
    FINAL = "final"
    POSTPONED = "postponed"
    CANCELLED = "cancelled"


SIDES_OF: dict[Market, frozenset[Side]] = {
    Market.MONEYLINE: frozenset({Side.HOME, Side.AWAY, Side.DRAW}),
    Market.SPREAD: frozenset({Side.HOME, Side.AWAY}),
    Market.TOTAL: frozenset({Side.OVER, Side.UNDER}),
}
MAX_SCORE = 100_000
MAX_LINE_TENTHS = 100_000


class GradingError(ValueError):
    """A selection or result that cannot be graded (a side the market has not, a missing line)."""


@dataclass(frozen=True, slots=True)
class Selection:
    """What a bet is on. `line_tenths` is the spread or total line in tenths; None for moneyline."""

    market: Market
    side: Side
    line_tenths: int | None = None
    three_way: bool = False  # moneyline only: a draw selection is offered

    def check(self) -> Selection:
        if self.side not in SIDES_OF[self.market]:
            raise GradingError(f"{self.market} has no side {self.side}")
        if self.market is Market.MONEYLINE:
            if self.line_tenths is not None:
                raise GradingError("a moneyline has no line")
            if self.side is Side.DRAW and not self.three_way:
                raise GradingError("a two-way moneyline has no draw")
        else:
            if self.line_tenths is None or abs(self.line_tenths) > MAX_LINE_TENTHS:
                raise GradingError(f"a {self.market} needs a line")
            if self.line_tenths % 5 != 0:
                raise GradingError("lines are whole or half points")
            if self.market is Market.TOTAL and self.line_tenths < 0:
                raise GradingError("a total line is not negative")
        return self


@dataclass(frozen=True, slots=True)
class Result:
    """An event's result: its status and, when final, both scores."""

    status: EventStatus
    home: int | None = None
    away: int | None = None

    def check(self) -> Result:
        if self.status is EventStatus.FINAL:
            for score in (self.home, self.away):
                if score is None or not 0 <= score <= MAX_SCORE:
                    raise GradingError("a final result needs both scores (0 or more)")
        elif self.status is EventStatus.SCHEDULED:
            raise GradingError("a scheduled event has no result yet")
        return self


def _compare(mine_tenths: int, theirs_tenths: int) -> Grade:
    if mine_tenths > theirs_tenths:
        return Grade.WIN
    if mine_tenths < theirs_tenths:
        return Grade.LOSS
    return Grade.PUSH


def grade(selection: Selection, result: Result) -> Grade:
    """The grade of `selection` given `result` (see the module docstring for every rule)."""
    selection.check()
    result.check()
    if result.status in (EventStatus.POSTPONED, EventStatus.CANCELLED):
        return Grade.VOID
    assert result.home is not None and result.away is not None
    home, away = result.home * 10, result.away * 10
    if selection.market is Market.MONEYLINE:
        if selection.side is Side.DRAW:
            return Grade.WIN if home == away else Grade.LOSS
        mine, theirs = (home, away) if selection.side is Side.HOME else (away, home)
        outcome = _compare(mine, theirs)
        if outcome is Grade.PUSH and selection.three_way:
            return Grade.LOSS  # the draw was a selection of its own
        return outcome
    assert selection.line_tenths is not None
    if selection.market is Market.SPREAD:
        mine, theirs = (home, away) if selection.side is Side.HOME else (away, home)
        return _compare(mine + selection.line_tenths, theirs)
    total = home + away
    if selection.side is Side.OVER:
        return _compare(total, selection.line_tenths)
    return _compare(selection.line_tenths, total)


def returned(grade_: Grade, stake: int, potential_return: int) -> int:
    """Credits a graded bet gives back: the potential return on a win, the stake on a push
    or void, nothing on a loss."""
    assert 0 < stake <= potential_return
    if grade_ is Grade.WIN:
        return potential_return
    if grade_ in (Grade.PUSH, Grade.VOID):
        return stake
    return 0
