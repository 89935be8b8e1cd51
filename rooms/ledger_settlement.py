"""The Settler backed by the ledger: one linked batch plus the history rows, in one transaction.

Ids derive from the room id (transfer_id(room_id, "post", user), (room_id,
"payout", user), (room_id, "rake"), (room_id, "void", user)), and the `duels`
row is checked under a per-room advisory lock first, so settling a room again
returns the first result and moves nothing. Stakes sit in the escrow of the
room's game kind (`escrow:<game>`), where matchmaking held them.

Settlements of many rooms arriving together share one transaction (group commit,
like the ledger's own): every hold and every settlement of a game moves its one
escrow account, so each transaction holds that account's row lock until it
commits, and one commit per room made a wave of endings queue up behind each
other (and behind the holds of players queueing again). A batch takes the rooms'
advisory locks in one sorted statement, reads earlier results in one query,
writes the history rows first and the money last (the escrow lock is held only
from the money to the commit). If the shared transaction fails for any reason,
each of its rooms is settled again alone, exactly as a single room is, so a
room's result (or its SettlementRejected) never depends on its neighbours.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import asyncpg
import structlog

from ledger import (
    HOUSE,
    TransferKind,
    TransferRequest,
    escrow_account,
    transfer_id,
    user_account,
)
from ledger.errors import LedgerBusy, LedgerError
from ledger.group_commit import Coalescer
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


log = structlog.get_logger(__name__)

BATCH_ROOMS = 64  # rooms settled in one shared transaction at most
MAX_QUEUED = 20_000  # settlements waiting for a batch; beyond it, callers wait for room


@dataclass
class _Job:
    spec: MatchSpec
    outcome: Outcome
    future: asyncio.Future[Settled]


class LedgerSettlement:
    """Implements `rooms.settlement.Settler` for rooms whose holds sit in the game's escrow."""

    def __init__(self, ledger: LedgerApply, pool: asyncpg.Pool, *, max_inflight: int = 1,
                 batch_rooms: int = BATCH_ROOMS) -> None:
        """`max_inflight` shared transactions at once; while they run, others queue up.

        One by default: every settlement of a game takes the same escrow row lock, so two
        batches in flight only wait for each other there (holding two connections); one
        at a time, the rooms that end meanwhile simply make the next batch larger.
        """
        self.ledger = ledger
        self.pool = pool
        self.batches = 0  # shared transactions committed (tests and benchmarks read it)
        self._coalescer: Coalescer[_Job] = Coalescer(
            self._flush, size=lambda _job: 1, max_inflight=max_inflight,
            max_chunk_items=batch_rooms, max_queued_jobs=MAX_QUEUED, abandon=self._abandon,
        )

    async def settle(self, spec: MatchSpec, outcome: Outcome) -> Settled:
        outcome.check(spec)
        job = _Job(spec, outcome, asyncio.get_running_loop().create_future())
        await self._coalescer.submit(job)
        return await job.future

    async def settle_alone(self, spec: MatchSpec, outcome: Outcome) -> Settled:
        """One room in its own transaction (what a batch falls back to)."""
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
                await _insert_history(conn, spec, outcome, pot_minor)
                if reqs:  # last: the escrow's row lock is held from here to the commit
                    await self.ledger.apply(conn, reqs)
        except LedgerBusy:
            raise  # transient: the room retries later with the same ids
        except LedgerError as exc:
            raise SettlementRejected(exc.code, exc.message) from exc
        return Settled(spec.room_id, outcome, pot_minor, outcome.refund)

    # ---- many rooms in one transaction ------------------------------------------------------

    async def _flush(self, jobs: list[_Job]) -> list[_Job]:
        """Settle `jobs` together; any failure settles each alone. Never hands jobs back."""
        live = [j for j in jobs if not j.future.done()]
        ids = [j.spec.room_id for j in live]
        together = live if len(live) > 1 and len(set(ids)) == len(ids) else []
        if together:
            try:
                results = await self._settle_many(together)
            except Exception as exc:
                log.warning("settlement_batch_split", rooms=len(together), error=type(exc).__name__)
            else:
                self.batches += 1
                for job, settled in zip(together, results, strict=True):
                    if not job.future.done():
                        job.future.set_result(settled)
                return []
        # One at a time: a single room, a batch that failed, or one room twice in a batch.
        for job in live:
            try:
                settled = await self.settle_alone(job.spec, job.outcome)
            except Exception as exc:
                if not job.future.done():
                    job.future.set_exception(exc)
            else:
                if not job.future.done():
                    job.future.set_result(settled)
        return []

    async def _settle_many(self, jobs: list[_Job]) -> list[Settled]:
        room_ids = [j.spec.room_id for j in jobs]
        async with self.pool.acquire() as conn, conn.transaction():
            # Sorted by lock key: two batches (on any nodes) never wait for each other in a
            # cycle; a single room takes one of these locks alone.
            await conn.execute(
                "SELECT pg_advisory_xact_lock(k) FROM (SELECT DISTINCT hashtext('duel:' || r)"
                " AS k FROM unnest($1::text[]) r) x ORDER BY k", room_ids)
            earlier = await _read_settled_many(conn, room_ids)
            todo = [j for j in jobs if j.spec.room_id not in earlier]
            reqs_of = {j.spec.room_id: settle_requests(j.spec, j.outcome) for j in todo}
            voids = [r for j in todo if j.outcome.refund for r in reqs_of[j.spec.room_id]]
            if voids:
                held = {r.pending_id for r in await _still_held(conn, voids)}
                for j in todo:
                    if j.outcome.refund:
                        reqs_of[j.spec.room_id] = [
                            r for r in reqs_of[j.spec.room_id] if r.pending_id in held]
            await _insert_history_many(conn, todo)
            reqs = [r for j in todo for r in reqs_of[j.spec.room_id]]
            if reqs:  # last: the escrow's row lock is held from here to the commit
                await self.ledger.apply(conn, reqs)
        out = []
        for j in jobs:
            first = earlier.get(j.spec.room_id)
            pot_minor = sum(h.stake_minor for h in j.spec.seats)
            out.append(first if first is not None else
                       Settled(j.spec.room_id, j.outcome, pot_minor, j.outcome.refund))
        return out

    def _abandon(self, jobs: Sequence[_Job], exc: BaseException | None) -> None:
        """A batch was cancelled or crashed before settling these: the rooms retry (same ids)."""
        if exc is not None:
            log.error("settlement_batch_failed", rooms=len(jobs), error=repr(exc))
        for job in jobs:
            if not job.future.done():
                job.future.set_exception(LedgerBusy("the settlement was interrupted; retry"))


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


async def _read_settled_many(conn: Any, room_ids: list[str]) -> dict[str, Settled]:
    """Rooms of `room_ids` settled before, with their first result (usually none)."""
    done = [r["room_id"] for r in await conn.fetch(
        "SELECT room_id FROM duels WHERE room_id = ANY($1::text[])", room_ids)]
    out: dict[str, Settled] = {}
    for room_id in done:
        settled = await _read_settled(conn, room_id)
        assert settled is not None
        out[room_id] = settled
    return out


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


def _duel_row(spec: MatchSpec, outcome: Outcome) -> tuple[Any, ...]:
    scores = {s.user_id: s.score for s in outcome.seats}
    times_ms = {s.user_id: s.time_ms for s in outcome.seats}
    question_ids = [str(q) for q in outcome.detail.get("question_ids", ())]
    return (spec.room_id, spec.game, list(spec.user_ids), spec.seats[0].stake_minor,
            spec.currency, json.dumps(scores), json.dumps(times_ms), outcome.result,
            outcome.winner, sum(h.stake_minor for h in spec.seats), outcome.payout_total_minor,
            outcome.rake_minor, question_ids, json.dumps(dict(outcome.detail)))


def _seat_rows(spec: MatchSpec, outcome: Outcome) -> list[tuple[Any, ...]]:
    players = list(spec.user_ids)
    by_user = {s.user_id: s for s in outcome.seats}
    return [
        (spec.room_id, h.user_id, next((p for p in players if p != h.user_id), h.user_id),
         h.stake_minor, by_user[h.user_id].score, by_user[h.user_id].time_ms,
         by_user[h.user_id].result, int(outcome.payouts_minor.get(h.user_id, 0)))
        for h in spec.seats
    ]


async def _insert_history_many(conn: Any, jobs: Sequence[_Job]) -> None:
    """The history rows of many rooms: two pipelined statements (settled_at = now(), the
    transaction's time, for the duel and its seats alike)."""
    if not jobs:
        return
    await conn.executemany(
        "INSERT INTO duels (room_id, game, players, stake_minor, currency, scores, times_ms,"
        " result, winner, pot_minor, payout_minor, rake_minor, question_ids, detail)"
        " VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7::jsonb, $8, $9, $10, $11, $12, $13,"
        " $14::jsonb)",
        [_duel_row(j.spec, j.outcome) for j in jobs],
    )
    await conn.executemany(
        "INSERT INTO duel_seats (room_id, user_id, opponent_id, stake_minor, score, time_ms,"
        " outcome, payout_minor, settled_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, now())",
        [row for j in jobs for row in _seat_rows(j.spec, j.outcome)],
    )


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
