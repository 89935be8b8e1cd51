"""Matchmaking's StakeHolder on the ledger: a queued player's stake is a pending transfer.

Every transfer id is derived from the ticket, so a retry after a crash (or a
second process deciding the same thing) returns the first result instead of
moving money twice.
"""

from __future__ import annotations

import uuid

import structlog

from ledger import (
    HOUSE,
    Ledger,
    TransferKind,
    TransferRequest,
    bps_down,
    escrow_account,
    transfer_id,
    user_account,
)
from ledger.errors import HoldAlreadyResolved, HoldExpired, InsufficientFunds
from matchmaking.errors import HoldRefused

log = structlog.get_logger(__name__)



def timeout_bonus_minor(stake_minor: int, bonus_bp: int) -> int:
    """The house's bonus for a player nobody was found for; rounded down (towards the house)."""
    assert stake_minor > 0
    return bps_down(stake_minor, bonus_bp)


class LedgerStakes:
    """Holds stakes from `user:<id>` into `escrow:<game>` for one game's queues."""

    def __init__(self, ledger: Ledger, *, game: str) -> None:
        assert game and ":" not in game, game
        self._ledger = ledger
        self.escrow = escrow_account(game)

    async def hold(
        self, ticket_id: str, user_id: str, stake_minor: int, currency: str, timeout_s: int
    ) -> str:
        """Reserve the stake until the match settles or the ticket ends; HoldRefused if short."""
        try:
            held = await self._ledger.hold(
                transfer_id(ticket_id, "hold"), user_account(user_id), self.escrow,
                stake_minor, currency, timeout_s=timeout_s, code="stake",
                meta={"ticket": ticket_id},
            )
        except InsufficientFunds as exc:
            raise HoldRefused("not enough available balance for this stake") from exc
        return str(held.id)

    async def release(self, ticket_id: str, hold_id: str) -> None:
        """Give the stake back. A hold the sweeper already voided needs nothing more."""
        try:
            await self._ledger.transfer(self._void_request(ticket_id, hold_id))
        except (HoldAlreadyResolved, HoldExpired):
            log.info("stake_hold_already_resolved", ticket=ticket_id, hold=hold_id)

    @staticmethod
    def _void_request(ticket_id: str, hold_id: str) -> TransferRequest:
        """The one void a ticket can have; empty accounts and amount mean "those of the hold"."""
        return TransferRequest(
            id=transfer_id(ticket_id, "void"), debit="", credit="", amount_minor=0, currency="",
            kind=TransferKind.VOID, pending_id=uuid.UUID(hold_id), code="stake_void",
        )

    async def refund_with_bonus(
        self, ticket_id: str, hold_id: str, user_id: str, stake_minor: int, currency: str,
        bonus_bp: int,
    ) -> None:
        """Void the hold and pay the house's waiting bonus in one linked batch, exactly once."""
        user = user_account(user_id)
        void = self._void_request(ticket_id, hold_id)
        bonus_minor = timeout_bonus_minor(stake_minor, bonus_bp)
        bonus = TransferRequest(
            id=transfer_id(ticket_id, "timeout_bonus"), debit=HOUSE, credit=user,
            amount_minor=bonus_minor, currency=currency, code="timeout_bonus",
            meta={"ticket": ticket_id, "bonus_bp": bonus_bp},
        )
        if bonus_minor == 0:
            await self.release(ticket_id, hold_id)
            return
        try:
            await self._ledger.batch([void, bonus])
        except (HoldAlreadyResolved, HoldExpired):
            # The hold ran out first: the stake is back already, the bonus is still owed.
            log.info("timeout_hold_already_resolved", ticket=ticket_id, hold=hold_id)
            await self._ledger.transfer(bonus)
