"""The Settler backed by the ledger: one linked batch plus the history rows, in one transaction.

Ids derive from the room id (transfer_id(room_id, "post", user), (room_id,
"payout", user), (room_id, "rake"), (room_id, "void", user)), and the `duels`
row is checked under a per-room advisory lock first, so settling a room again
returns the first result and moves nothing. Stakes sit in the escrow of the
room's game kind (`escrow:<game>`), where matchmaking held them.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, Protocol

import asyncpg

from ledger import (
    HOUSE,
    TransferKind,
    TransferRequest,
    escrow_account,
    transfer_id,
    user_account,
)
from ledger.errors import LedgerBusy, LedgerError
from rooms.api import Outcome, SeatResult, Settled
from rooms.settlement import SettlementRejected
from rooms.types import MatchSpec


class LedgerApply(Protocol):
    """The one ledger call settlement needs: linked transfers inside the caller's transaction."""

    async def apply(
        self, conn: Any, reqs: Sequence[TransferRequest], *, outbox: Sequence[Any] = ()
    ) -> Any: ...


def settle_requests(spec: MatchSpec, outcome: Outcome) -> list[TransferRequest]:
    """The linked batch of an outcome: void every hold, or post them and pay out of escrow."""
    escrow = escrow_account(spec.game)
    room_id, currency = spec.room_id, spec.currency
    meta = {"room_id": room_id, "game": spec.game}
    if outcome.refund:
        return [
            TransferRequest(
                id=transfer_id(room_id, "void", h.user_id), debit=user_account(h.user_id),
                credit=escrow, amount_minor=h.stake_minor, currency=currency,
                kind=TransferKind.VOID, pending_id=h.hold_id, code="refund", meta=meta,
            )
            for h in spec.seats if h.stake_minor > 0
        ]
    reqs = [
        TransferRequest(
            id=transfer_id(room_id, "post", h.user_id), debit=user_account(h.user_id),
            credit=escrow, amount_minor=h.stake_minor, currency=currency,
            kind=TransferKind.POST, pending_id=h.hold_id, code="stake", meta=meta,
        )
        for h in spec.seats if h.stake_minor > 0
    ]
    for user_id, amount_minor in sorted(outcome.payouts_minor.items()):
        if amount_minor > 0:
            # The quiz's single winner keeps its historical id: (room_id, "payout").
            cause = (room_id, "payout") if user_id == outcome.winner else (
                room_id, "payout", user_id)
            reqs.append(TransferRequest(
                id=transfer_id(*cause), debit=escrow, credit=user_account(user_id),
                amount_minor=amount_minor, currency=currency, code="payout", meta=meta,
            ))
    if outcome.rake_minor > 0:
        reqs.append(TransferRequest(
            id=transfer_id(room_id, "rake"), debit=escrow, credit=HOUSE,
            amount_minor=outcome.rake_minor, currency=currency, code="rake", meta=meta,
        ))
    return reqs


class LedgerSettlement:
    """Implements `rooms.settlement.Settler` for rooms whose holds sit in the game's escrow."""

    def __init__(self, ledger: LedgerApply, pool: asyncpg.Pool) -> None:
        self.ledger = ledger
        self.pool = pool

    async def settle(self, spec: MatchSpec, outcome: Outcome) -> Settled:
        outcome.check(spec)
        pot_minor = sum(h.stake_minor for h in spec.seats)
        reqs = settle_requests(spec, outcome)
        try:
            async with self.pool.acquire() as conn, conn.transaction():
                await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))",
                                   f"duel:{spec.room_id}")
                earlier = await _read_settled(conn, spec.room_id)
                if earlier is not None:
                    return earlier
                if outcome.refund:
                    reqs = await _still_held(conn, reqs)
                if reqs:
                    await self.ledger.apply(conn, reqs)
                await _insert_history(conn, spec, outcome, pot_minor)
        except LedgerBusy:
            raise  # transient: the room retries later with the same ids
        except LedgerError as exc:
            raise SettlementRejected(exc.code, exc.message) from exc
        return Settled(spec.room_id, outcome, pot_minor, outcome.refund)


async def _still_held(conn: Any, voids: list[TransferRequest]) -> list[TransferRequest]:
    """Refunding: a hold resolved elsewhere already (the ticket's own void after a failed
    join, the sweeper) needs no void here; voiding it would refuse the whole refund and
    leave the other seats' stakes held until the sweeper."""
    pending_ids = [r.pending_id for r in voids]
    resolved = {
        r["pending_id"] for r in await conn.fetch(
            "SELECT pending_id FROM transfers WHERE pending_id = ANY($1::uuid[])", pending_ids)
    }
    return [r for r in voids if r.pending_id not in resolved]


async def _read_settled(conn: Any, room_id: str) -> Settled | None:
    row = await conn.fetchrow(
        "SELECT result, winner, pot_minor, rake_minor, detail FROM duels WHERE room_id = $1",
        room_id,
    )
    if row is None:
        return None
    seats = await conn.fetch(
        "SELECT user_id, outcome, score, time_ms, payout_minor FROM duel_seats"
        " WHERE room_id = $1 ORDER BY user_id", room_id,
    )
    refunded = all(s["outcome"] == "refunded" for s in seats)
    outcome = Outcome(
        result=row["result"], refund=refunded, winner=row["winner"],
        rake_minor=0 if refunded else row["rake_minor"],
        payouts_minor={} if refunded else {
            s["user_id"]: s["payout_minor"] for s in seats if s["payout_minor"] > 0},
        seats=tuple(SeatResult(s["user_id"], s["outcome"], s["score"], s["time_ms"])
                    for s in seats),
        detail=row["detail"] or {},
    )
    return Settled(room_id, outcome, row["pot_minor"], refunded, replayed=True)


async def _insert_history(conn: Any, spec: MatchSpec, outcome: Outcome, pot_minor: int) -> None:
    players = list(spec.user_ids)
    scores = {s.user_id: s.score for s in outcome.seats}
    times_ms = {s.user_id: s.time_ms for s in outcome.seats}
    question_ids = [str(q) for q in outcome.detail.get("question_ids", ())]
    row = await conn.fetchrow(
        "INSERT INTO duels (room_id, game, players, stake_minor, currency, scores, times_ms,"
        " result, winner, pot_minor, payout_minor, rake_minor, question_ids, detail)"
        " VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7::jsonb, $8, $9, $10, $11, $12, $13,"
        " $14::jsonb) RETURNING settled_at",
        spec.room_id, spec.game, players, spec.seats[0].stake_minor, spec.currency,
        json.dumps(scores), json.dumps(times_ms), outcome.result, outcome.winner, pot_minor,
        outcome.payout_total_minor, outcome.rake_minor, question_ids,
        json.dumps(dict(outcome.detail)),
    )
    assert row is not None
    by_user = {s.user_id: s for s in outcome.seats}
    await conn.executemany(
        "INSERT INTO duel_seats (room_id, user_id, opponent_id, stake_minor, score, time_ms,"
        " outcome, payout_minor, settled_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        [
            (spec.room_id, h.user_id, next((p for p in players if p != h.user_id), h.user_id),
             h.stake_minor, by_user[h.user_id].score, by_user[h.user_id].time_ms,
             by_user[h.user_id].result, int(outcome.payouts_minor.get(h.user_id, 0)),
             row["settled_at"])
            for h in spec.seats
        ],
    )
