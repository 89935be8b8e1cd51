"""Matchmaking's StakeHolder on the ledger: a queued player's stake is a pending transfer.

Every transfer id is derived from the ticket, so a retry after a crash (or a
second process deciding the same thing) returns the first result instead of
moving money twice.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

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
from ledger.errors import HoldAlreadyResolved, HoldExpired, HoldNotFound, InsufficientFunds
from matchmaking.errors import HoldRefused
from matchmaking.types import HoldState
from rooms.clock import wall_now

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
        except Exception:
            # Outcome unknown (the database went away mid-call): if the hold was made, void
            # it now rather than leave it to the sweeper; a void of nothing changes nothing.
            hold_id = str(transfer_id(ticket_id, "hold"))
            try:
                await self.release(ticket_id, hold_id)
            except HoldNotFound:
                pass
            except Exception:
                log.warning("stake_hold_unknown_void_failed", ticket=ticket_id)
            raise
        return str(held.id)

    async def hold_state(self, ticket_id: str, hold_id: str) -> HoldState:
        """Where the hold stands, from the ids that can resolve it (matchmaking.HoldInspector).

        A ticket's own void and the sweeper's expiry have known ids; anything else that
        resolved it was a room's settlement (a post, or the room's void).
        """
        hold = await self._ledger.get_transfer(uuid.UUID(hold_id))
        if hold is None:
            return "missing"
        if not hold.resolved:
            expired = hold.expires_at is not None and hold.expires_at <= wall_now()
            return "expired" if expired else "held"
        if await self._ledger.get_transfer(transfer_id(ticket_id, "void")) is not None:
            return "voided"
        if await self._ledger.get_transfer(transfer_id(hold.id, "expire")) is not None:
            return "expired"
        return "settled"

    async def hold_states(self, holds: Sequence[tuple[str, str]]) -> list[HoldState]:
        """`hold_state` of many (ticket_id, hold_id) at once (matchmaking.HoldBatchInspector).

        One read answers every hold still held, which is all of them in a healthy round;
        a hold found resolved is asked about alone, to tell voided from expired or settled.
        """
        found = {t.id: t for t in await self._ledger.get_transfers(
            [uuid.UUID(h) for _, h in holds])}
        now = wall_now()  # hold expiry is the ledger's real time
        states: list[HoldState] = []
        for ticket_id, hold_id in holds:
            hold = found.get(uuid.UUID(hold_id))
            if hold is None:
                states.append("missing")
            elif not hold.resolved:
                expired = hold.expires_at is not None and hold.expires_at <= now
                states.append("expired" if expired else "held")
            else:
                states.append(await self.hold_state(ticket_id, hold_id))
        return states

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
        except HoldExpired:
            # Past its timeout, not yet swept: the sweeper returns the stake; the bonus is owed.
            log.info("timeout_hold_expired", ticket=ticket_id, hold=hold_id)
            await self._ledger.transfer(bonus)
        except HoldAlreadyResolved:
            # Someone else resolved it. Only a hold that ran out (the sweeper voided it) means
            # the player waited the whole time: then the bonus is owed. A hold a room posted
            # (or voided in its settlement) was played for: no bonus, ever.
            state = await self.hold_state(ticket_id, hold_id)
            if state not in ("expired", "voided"):
                log.warning("timeout_bonus_refused", ticket=ticket_id, hold=hold_id, state=state)
                return
            log.info("timeout_hold_already_resolved", ticket=ticket_id, hold=hold_id, state=state)
            await self._ledger.transfer(bonus)
