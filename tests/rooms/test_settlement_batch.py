"""Many rooms ending at once share one settlement transaction, each keeping its own result."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest

from ledger import split_pot, transfer_id
from rooms.api import Outcome
from rooms.ledger_settlement import LedgerSettlement
from rooms.settlement import SettlementRejected
from rooms.types import MatchSpec
from tests.rooms.helpers import available, fund_and_hold

STAKE = 5_000
RAKE_BPS = 2_000


async def _room(ledger: Any) -> tuple[MatchSpec, str, str]:
    a, b = str(uuid.uuid4()), str(uuid.uuid4())
    holds = (await fund_and_hold(ledger, a, STAKE), await fund_and_hold(ledger, b, STAKE))
    return MatchSpec(f"duel-{uuid.uuid4().hex}", "quiz", holds), a, b


async def test_rooms_ending_together_settle_in_shared_transactions(
    ledger: Any, pool: Any
) -> None:
    settlement = LedgerSettlement(ledger, pool, max_inflight=1)
    rooms = [await _room(ledger) for _ in range(24)]
    outcomes = [
        Outcome.winner_takes_pot(spec.seats, a, rake_bps=RAKE_BPS) if k % 3 else
        Outcome.refund_all(spec.seats, result="tie_refund")
        for k, (spec, a, _b) in enumerate(rooms)
    ]
    settled = await asyncio.gather(*(
        settlement.settle(spec, outcome) for (spec, _a, _b), outcome in zip(rooms, outcomes,
                                                                             strict=True)))
    assert 1 <= settlement.batches < len(rooms), "rooms queued behind a batch went together"
    payout, _rake = split_pot(2 * STAKE, RAKE_BPS)
    for k, ((spec, a, b), result) in enumerate(zip(rooms, settled, strict=True)):
        assert result.room_id == spec.room_id and not result.replayed
        if k % 3:
            assert result.payout_of(a) == payout and not result.refunded
            assert await available(ledger, f"user:{a}") == payout
            assert await available(ledger, f"user:{b}") == 0
        else:
            assert result.refunded
            assert await available(ledger, f"user:{a}") == STAKE
            assert await available(ledger, f"user:{b}") == STAKE
    rows = await pool.fetch("SELECT room_id, result FROM duels WHERE room_id = ANY($1::text[])",
                            [spec.room_id for spec, _a, _b in rooms])
    assert len(rows) == len(rooms)
    seats = await pool.fetchval("SELECT count(*) FROM duel_seats WHERE room_id = ANY($1::text[])",
                                [spec.room_id for spec, _a, _b in rooms])
    assert seats == 2 * len(rooms)

    again = await asyncio.gather(*(
        settlement.settle(spec, outcome) for (spec, _a, _b), outcome in zip(rooms, outcomes,
                                                                             strict=True)))
    assert all(r.replayed for r in again), "a second settlement moves nothing"
    for first, second in zip(settled, again, strict=True):
        assert second.outcome.winner == first.outcome.winner
    assert await available(ledger, f"user:{rooms[1][1]}") == payout


async def test_a_room_the_ledger_refuses_does_not_take_its_neighbours_down(
    ledger: Any, pool: Any
) -> None:
    settlement = LedgerSettlement(ledger, pool, max_inflight=1)
    rooms = [await _room(ledger) for _ in range(6)]
    bad_spec, bad_a, _ = rooms[2]
    # The hold of one seat was voided elsewhere: posting it is refused for good.
    await ledger.void(transfer_id("elsewhere", bad_a), bad_spec.seats[0].hold_id)
    results = await asyncio.gather(*(
        settlement.settle(spec, Outcome.winner_takes_pot(spec.seats, a, rake_bps=RAKE_BPS))
        for spec, a, _b in rooms), return_exceptions=True)
    payout, _rake = split_pot(2 * STAKE, RAKE_BPS)
    for k, ((spec, a, _b), result) in enumerate(zip(rooms, results, strict=True)):
        if k == 2:
            assert isinstance(result, SettlementRejected)
            assert result.code == "hold_already_resolved"
            assert await pool.fetchval("SELECT count(*) FROM duels WHERE room_id = $1",
                                       spec.room_id) == 0
        else:
            assert not isinstance(result, BaseException)
            assert await available(ledger, f"user:{a}") == payout
    with pytest.raises(SettlementRejected):
        await settlement.settle(bad_spec, Outcome.winner_takes_pot(
            bad_spec.seats, bad_a, rake_bps=RAKE_BPS))
