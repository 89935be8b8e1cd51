"""The game API's money side: outcomes conserve the pot, are settled before they are announced,
and a refusal returns every stake still held; signals reach the game in order."""

from __future__ import annotations

import random
import uuid
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ledger import TransferKind, TransferRequest, transfer_id
from rooms.api import Frame, Game, GameError, Outcome, RoomContext, Settled, Signal
from rooms.clock import ManualClock
from rooms.errors import InvalidMatch
from rooms.ledger_settlement import LedgerSettlement
from rooms.runtime import Room
from rooms.types import HeldStake, MatchSpec
from tests.rooms.helpers import CURRENCY, Recorder, available, fund_and_hold


def stakes(*amounts: int) -> tuple[HeldStake, ...]:
    return tuple(HeldStake(f"u{i}", uuid.uuid4(), a, CURRENCY) for i, a in enumerate(amounts))


@given(st.lists(st.integers(1, 10**9), min_size=2, max_size=8), st.integers(0, 10_000))
def test_winner_takes_pot_conserves_money_and_rounds_towards_the_house(
    amounts: list[int], rake_bps: int
) -> None:
    seats = stakes(*amounts)
    outcome = Outcome.winner_takes_pot(seats, "u0", rake_bps=rake_bps)
    pot = sum(amounts)
    assert outcome.payout_total_minor + outcome.rake_minor == pot
    assert outcome.payout_total_minor == pot * (10_000 - rake_bps) // 10_000
    outcome.check(MatchSpec("r", "g", seats))
    assert [s.result for s in outcome.seats] == ["won"] + ["lost"] * (len(amounts) - 1)


@given(st.lists(st.integers(1, 10**6), min_size=2, max_size=8), st.integers(0, 5_000),
       st.data())
def test_a_shared_pot_gives_remainders_to_the_house(
    amounts: list[int], rake_bps: int, data: st.DataObject
) -> None:
    seats = stakes(*amounts)
    weights = {s.user_id: data.draw(st.integers(0, 5)) for s in seats}
    if not any(weights.values()):
        weights["u0"] = 1
    outcome = Outcome.split_between(seats, weights, rake_bps=rake_bps)
    outcome.check(MatchSpec("r", "g", seats))
    assert outcome.payout_total_minor + outcome.rake_minor == sum(amounts)
    assert set(outcome.payouts_minor) <= {u for u, w in weights.items() if w > 0}


def test_an_outcome_that_does_not_fit_its_room_is_refused() -> None:
    seats = stakes(1_000, 1_000)
    spec = MatchSpec("r", "g", seats)
    bad = [
        Outcome(result="win", seats=Outcome.refund_all(seats, result="x").seats,
                payouts_minor={"u0": 2_000}, rake_minor=1, winner="u0"),  # creates money
        Outcome(result="win", seats=Outcome.refund_all(seats, result="x").seats,
                payouts_minor={"stranger": 2_000}, winner="u0"),  # pays someone unseated
        Outcome(result="win", seats=Outcome.refund_all(seats[:1], result="x").seats,
                payouts_minor={"u0": 2_000}, winner="u0"),  # a seat without a result
    ]
    for outcome in bad:
        with pytest.raises(InvalidMatch):
            outcome.check(spec)


class Judged(Game):
    """Ends when told by a signal: 'win' pays a seat, 'refund' returns both, else refused."""

    name = "judged"

    def __init__(self, spec: MatchSpec) -> None:
        self.spec = spec
        self.phase = "playing"
        self.aborted: str | None = None

    async def on_signal(self, room: RoomContext, signal: Signal) -> Frame | None:
        if signal.name == "win":
            await room.end(Outcome.winner_takes_pot(self.spec.seats, signal.payload["user"],
                                                   rake_bps=1_000))
            return {"t": "ruled", "by": signal.sender}
        if signal.name == "refund":
            await room.end(Outcome.refund_all(self.spec.seats, result="voided"))
            return {"t": "ruled", "by": signal.sender}
        raise GameError("no such ruling", code="unknown_signal")

    async def on_settled(self, room: RoomContext, settled: Settled) -> None:
        self.phase = "finished"
        room.publish({"t": "judged_result", "winner": settled.winner,
                      "refunded": settled.refunded, "payouts": dict(settled.payouts_minor)})

    async def on_abort(self, room: RoomContext, reason: str) -> None:
        self.aborted = reason


async def _room(ledger: Any, pool: Any) -> tuple[Room, Judged, tuple[HeldStake, ...], Recorder]:
    a, b = str(uuid.uuid4()), str(uuid.uuid4())
    holds = (await fund_and_hold(ledger, a, 10_000), await fund_and_hold(ledger, b, 10_000))
    spec = MatchSpec(f"judged-{uuid.uuid4().hex}", "quiz", holds)  # stakes sit in escrow:quiz
    game = Judged(spec)
    room = Room(spec, game, clock=ManualClock(), rng=random.Random(1),
                settler=LedgerSettlement(ledger, pool))
    room.start()
    rec = Recorder()
    await room.watch("spectator", rec)
    return room, game, holds, rec


async def test_a_signal_reaches_the_game_and_its_outcome_is_settled_before_it_is_announced(
    ledger: Any, pool: Any
) -> None:
    room, _game, holds, rec = await _room(ledger, pool)
    with pytest.raises(GameError) as err:
        await room.signal(Signal("coin_flip"))
    assert err.value.code == "unknown_signal"
    answer = await room.signal(Signal("win", {"user": holds[0].user_id}, sender="admin:1"))
    assert answer == {"t": "ruled", "by": "admin:1"}
    await room.wait_closed()
    result = rec.of("judged_result")[0]
    assert result["winner"] == holds[0].user_id and result["payouts"] == {holds[0].user_id: 18_000}
    assert await available(ledger, f"user:{holds[0].user_id}") == 18_000
    assert await available(ledger, f"user:{holds[1].user_id}") == 0


async def test_a_refused_outcome_returns_every_stake_still_held(ledger: Any, pool: Any) -> None:
    room, game, holds, rec = await _room(ledger, pool)
    # One hold is voided elsewhere (e.g. its ticket's own release): posting it must fail.
    await ledger.transfer(TransferRequest(
        id=transfer_id("elsewhere", holds[0].hold_id), debit="", credit="", amount_minor=0,
        currency="", kind=TransferKind.VOID, pending_id=holds[0].hold_id, code="stake_void"))
    await room.signal(Signal("win", {"user": holds[1].user_id}))
    await room.wait_closed()
    aborted = rec.of("room_aborted")
    assert aborted == [{**aborted[0], "reason": "settlement_failed", "refunded": True}]
    assert game.aborted == "settlement_failed" and rec.of("judged_result") == []
    for hold in holds:  # both players have their whole stake back; nothing is left held
        bal = await ledger.balance(f"user:{hold.user_id}", CURRENCY)
        assert (bal.available_minor, bal.pending_debits_minor) == (10_000, 0)
