"""The seam between a room and the money: the room decides, a Settler commits.

The runtime calls `settle` once a game has ended with an `Outcome` and lets the
game announce the result only after it returns. Every implementation must be
idempotent per room: a second call (after a crash, a retry or a replay, or from
another node's reaper) changes nothing and returns the first result.
"""

from __future__ import annotations

from typing import Protocol

from rooms.api import Outcome, Settled
from rooms.types import MatchSpec


class Settler(Protocol):
    async def settle(self, spec: MatchSpec, outcome: Outcome) -> Settled:
        """Commit `outcome` for the room `spec` describes, exactly once.

        A refund voids every hold; otherwise every hold is posted into the game's
        escrow and the escrow pays `payouts_minor` and `rake_minor` out again.
        Raise `SettlementRejected` when the ledger refuses for good; anything
        else is treated as transient and retried with the same ids.
        """
        ...


class SettlementDeferred(Exception):
    """The settler keeps the stakes held on purpose: the match goes on elsewhere (a wager
    match resumed by another node, ruled by an admin later). Not a failure: the room closes
    without refunding, and says so."""


class SettlementRejected(Exception):
    """The ledger refused the settlement for good (a hold expired or was resolved elsewhere)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
