"""Pure competition logic, no I/O: tournament brackets, pairings, tables and prize money,
and (in `competitions.pools`) weekly pools' weeks, grading and ranking.

Four tournament formats behind one interface (`Competition`): single and double
elimination, Swiss and round robin. The server stores `state()` and rebuilds
with `restore()`. Everything here is plain code over plain values, driven by the
caller's clock and seeds; it imports nothing but `ledger`'s money rules.
"""

from __future__ import annotations

from typing import Any

from competitions.base import Competition
from competitions.elimination import DoubleElimination, Elimination, seeding_order
from competitions.elimination import from_state as _elimination_from_state
from competitions.prizes import Allocation, Fund, PrizeTable, allocate, prize_fund
from competitions.round_robin import RoundRobin
from competitions.swiss import Swiss, default_rounds
from competitions.types import MAX_PLAYERS, CompetitionError, Decided, Pairing, Result

FORMATS = ("single_elimination", "double_elimination", "swiss", "round_robin")

__all__ = [
    "FORMATS",
    "MAX_PLAYERS",
    "Allocation",
    "Competition",
    "CompetitionError",
    "Decided",
    "DoubleElimination",
    "Elimination",
    "Fund",
    "Pairing",
    "PrizeTable",
    "Result",
    "RoundRobin",
    "Swiss",
    "allocate",
    "create",
    "default_rounds",
    "prize_fund",
    "restore",
    "seeding_order",
]


def create(fmt: str, players: list[str], options: dict[str, Any] | None = None) -> Competition:
    """A new competition of format `fmt` over `players` in seed order (best first)."""
    options = options or {}
    if fmt == "single_elimination":
        return Elimination(players)
    if fmt == "double_elimination":
        return DoubleElimination(players, reset=bool(options.get("grand_final_reset", True)))
    if fmt == "swiss":
        rounds = options.get("rounds")
        return Swiss(players, rounds=int(rounds) if rounds else None)
    if fmt == "round_robin":
        return RoundRobin(players, group_max=int(options.get("group_max", 8)))
    raise CompetitionError("format", f"unknown format {fmt!r}")


def restore(data: dict[str, Any]) -> Competition:
    """The competition `state()` described."""
    kind = data.get("kind")
    if kind in ("single_elimination", "double_elimination"):
        return _elimination_from_state(data)
    if kind == "swiss":
        return Swiss.from_state(data)
    if kind == "round_robin":
        return RoundRobin.from_state(data)
    raise CompetitionError("format", f"unknown format {kind!r}")
