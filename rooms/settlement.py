"""The seam between a room and the money: the room decides, a Settlement commits.

A game calls `settle_duel` once it knows the outcome and announces the result
only after it returns. Every implementation must be idempotent per room: a
second call (after a crash, a retry or a replay) changes nothing and returns
the first result.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from rooms.types import HeldStake


@dataclass(frozen=True, slots=True)
class DuelRecord:
    """What a finished duel looks like for the history table."""

    game: str
    scores: Mapping[str, int]
    times_ms: Mapping[str, int]
    result: str  # "win", "tie_refund", "no_show", "aborted"
    question_ids: Sequence[str] = field(default_factory=tuple)


@dataclass(frozen=True, slots=True)
class SettlementResult:
    """The money side of an outcome, as committed."""

    room_id: str
    winner: str | None
    pot_minor: int
    payout_minor: int
    rake_minor: int
    refunded: bool
    replayed: bool = False  # True when this call found the room already settled


class Settlement(Protocol):
    async def settle_duel(
        self,
        room_id: str,
        holds: Sequence[HeldStake],
        winner: str | None,
        pot_minor: int,
        rake_minor: int,
        record: DuelRecord,
    ) -> SettlementResult:
        """Post the holds, pay the winner pot - rake, rake to the house; winner None refunds all."""
        ...

    async def void_all(
        self, room_id: str, holds: Sequence[HeldStake], record: DuelRecord
    ) -> SettlementResult:
        """Return every stake (no-show, abort, drain): void each hold."""
        ...


def split_pot(pot_minor: int, rake_bps: int) -> tuple[int, int]:
    """(payout, rake) for a pot; rounding goes towards the house, so payout + rake == pot."""
    assert pot_minor >= 0 and 0 <= rake_bps <= 10_000
    payout_minor = pot_minor * (10_000 - rake_bps) // 10_000
    return payout_minor, pot_minor - payout_minor


class SettlementRejected(Exception):
    """The ledger refused the settlement for good (a hold expired or was resolved elsewhere).

    Anything else a Settlement raises is treated as transient and retried.
    """

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
