"""Settlement backed by the ledger: one linked batch plus the history rows, in one transaction.

Ids derive from the room id (transfer_id(room_id, "post", user), (room_id,
"payout"), (room_id, "rake"), (room_id, "void", user)), and the `duels` row is
checked under a per-room advisory lock first, so settling a room again returns
the first result and moves nothing.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, Protocol

import asyncpg

from ledger import TransferKind, TransferRequest, transfer_id
from ledger.errors import LedgerBusy, LedgerError
from rooms.settlement import DuelRecord, SettlementRejected, SettlementResult
from rooms.types import HeldStake

HOUSE = "house"


class LedgerApply(Protocol):
    """The one ledger call settlement needs: linked transfers inside the caller's transaction."""

    async def apply(
        self, conn: Any, reqs: Sequence[TransferRequest], *, outbox: Sequence[Any] = ()
    ) -> Any: ...


def user_owner(user_id: str) -> str:
    return f"user:{user_id}"


class LedgerSettlement:
    """Implements `rooms.settlement.Settlement` for duels whose holds sit in `escrow`."""

    def __init__(self, ledger: LedgerApply, pool: asyncpg.Pool, *, escrow: str = "escrow:quiz"):
        self.ledger = ledger
        self.pool = pool
        self.escrow = escrow

    def settle_requests(
        self, room_id: str, holds: Sequence[HeldStake], winner: str, payout_minor: int,
        rake_minor: int,
    ) -> list[TransferRequest]:
        """The linked batch: post every hold into escrow, pay the winner, rake to the house."""
        currency = holds[0].currency
        reqs = [
            TransferRequest(
                id=transfer_id(room_id, "post", h.user_id), debit=user_owner(h.user_id),
                credit=self.escrow, amount_minor=h.stake_minor, currency=currency,
                kind=TransferKind.POST, pending_id=h.hold_id, code="stake",
                meta={"room_id": room_id},
            )
            for h in holds
        ]
        if payout_minor > 0:
            reqs.append(TransferRequest(
                id=transfer_id(room_id, "payout"), debit=self.escrow, credit=user_owner(winner),
                amount_minor=payout_minor, currency=currency, code="payout",
                meta={"room_id": room_id},
            ))
        if rake_minor > 0:
            reqs.append(TransferRequest(
                id=transfer_id(room_id, "rake"), debit=self.escrow, credit=HOUSE,
                amount_minor=rake_minor, currency=currency, code="rake",
                meta={"room_id": room_id},
            ))
        return reqs

    def void_requests(self, room_id: str, holds: Sequence[HeldStake]) -> list[TransferRequest]:
        return [
            TransferRequest(
                id=transfer_id(room_id, "void", h.user_id), debit=user_owner(h.user_id),
                credit=self.escrow, amount_minor=h.stake_minor, currency=h.currency,
                kind=TransferKind.VOID, pending_id=h.hold_id, code="refund",
                meta={"room_id": room_id},
            )
            for h in holds
        ]

    async def settle_duel(
        self, room_id: str, holds: Sequence[HeldStake], winner: str | None, pot_minor: int,
        rake_minor: int, record: DuelRecord,
    ) -> SettlementResult:
        if winner is None:
            return await self.void_all(room_id, holds, record)
        assert pot_minor == sum(h.stake_minor for h in holds), "the pot is every stake"
        assert winner in {h.user_id for h in holds}, "the winner holds a seat"
        assert 0 <= rake_minor <= pot_minor
        payout_minor = pot_minor - rake_minor
        result = SettlementResult(room_id, winner, pot_minor, payout_minor, rake_minor, False)
        reqs = self.settle_requests(room_id, holds, winner, payout_minor, rake_minor)
        return await self._commit(room_id, holds, reqs, result, record)

    async def void_all(
        self, room_id: str, holds: Sequence[HeldStake], record: DuelRecord
    ) -> SettlementResult:
        pot_minor = sum(h.stake_minor for h in holds)
        result = SettlementResult(room_id, None, pot_minor, 0, 0, True)
        return await self._commit(room_id, holds, self.void_requests(room_id, holds), result,
                                  record)

    async def _commit(
        self, room_id: str, holds: Sequence[HeldStake], reqs: list[TransferRequest],
        result: SettlementResult, record: DuelRecord,
    ) -> SettlementResult:
        assert holds and len({h.currency for h in holds}) == 1
        try:
            async with self.pool.acquire() as conn, conn.transaction():
                await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", f"duel:{room_id}")
                row = await conn.fetchrow(
                    "SELECT winner, pot_minor, payout_minor, rake_minor, result"
                    " FROM duels WHERE room_id = $1", room_id,
                )
                if row is not None:
                    return SettlementResult(
                        room_id, row["winner"], row["pot_minor"], row["payout_minor"],
                        row["rake_minor"], row["winner"] is None, replayed=True,
                    )
                await self.ledger.apply(conn, reqs)
                await _insert_duel(conn, room_id, holds, result, record)
        except LedgerBusy:
            raise  # transient: the room retries later with the same ids
        except LedgerError as exc:
            raise SettlementRejected(exc.code, exc.message) from exc
        return result


async def _insert_duel(
    conn: Any, room_id: str, holds: Sequence[HeldStake],
    result: SettlementResult, record: DuelRecord,
) -> None:
    players = [h.user_id for h in holds]
    row = await conn.fetchrow(
        "INSERT INTO duels (room_id, game, players, stake_minor, currency, scores, times_ms,"
        " result, winner, pot_minor, payout_minor, rake_minor, question_ids)"
        " VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7::jsonb, $8, $9, $10, $11, $12, $13)"
        " RETURNING settled_at",
        room_id, record.game, players, holds[0].stake_minor, holds[0].currency,
        json.dumps(dict(record.scores)), json.dumps(dict(record.times_ms)), record.result,
        result.winner, result.pot_minor, result.payout_minor, result.rake_minor,
        list(record.question_ids),
    )
    assert row is not None
    for h in holds:
        opponent = next((p for p in players if p != h.user_id), h.user_id)
        if result.winner is None:
            outcome, payout = "refunded", 0
        elif result.winner == h.user_id:
            outcome, payout = "won", result.payout_minor
        else:
            outcome, payout = "lost", 0
        await conn.execute(
            "INSERT INTO duel_seats (room_id, user_id, opponent_id, stake_minor, score, time_ms,"
            " outcome, payout_minor, settled_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            room_id, h.user_id, opponent, h.stake_minor, int(record.scores.get(h.user_id, 0)),
            int(record.times_ms.get(h.user_id, 0)), outcome, payout, row["settled_at"],
        )
