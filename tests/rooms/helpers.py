"""Shared pieces for room tests: frame recorders, funded holds, a duel harness."""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass, field
from typing import Any

from ledger import TransferRequest, transfer_id
from rooms.api import Frame
from rooms.clock import ManualClock
from rooms.games.quiz import QuizConfig, QuizDuel, QuizFactory
from rooms.games.quiz.questions import QuestionBank, RedisSeenStore
from rooms.ledger_settlement import LedgerSettlement
from rooms.runtime import Room, RoomConfig, RoomObserver
from rooms.settlement import Settler
from rooms.types import HeldStake, MatchSpec

CURRENCY = "KES"
BANK = QuestionBank.load()


@dataclass
class Recorder:
    """A connection's send callable that keeps every frame it was given."""

    frames: list[Frame] = field(default_factory=list)

    def __call__(self, frame: Frame) -> None:
        self.frames.append(frame)

    def of(self, t: str) -> list[Frame]:
        return [f for f in self.frames if f["t"] == t]

    def seqs(self) -> list[int]:
        return [f["seq"] for f in self.frames if "seq" in f and f["t"] != "room_state"]

    def clear(self) -> None:
        self.frames.clear()


async def fund_and_hold(ledger: Any, user_id: str, stake_minor: int) -> HeldStake:
    """Deposit exactly the stake, then hold it user -> escrow:quiz as matchmaking would."""
    await ledger.transfer(TransferRequest(
        id=transfer_id("test-deposit", user_id), debit="world", credit=f"user:{user_id}",
        amount_minor=stake_minor, currency=CURRENCY, code="deposit",
    ))
    ticket = uuid.uuid4()
    hold_id = transfer_id(ticket, "hold")
    await ledger.hold(hold_id, f"user:{user_id}", "escrow:quiz", stake_minor, CURRENCY,
                      timeout_s=3600, code="stake")
    return HeldStake(user_id, hold_id, stake_minor, CURRENCY)


def fast_config(**overrides: Any) -> QuizConfig:
    values: dict[str, Any] = dict(countdown_ms=3_000, answer_window_ms=15_000, reveal_ms=1_500,
                                  join_timeout_ms=30_000)
    values.update(overrides)
    return QuizConfig(**values)


@dataclass
class Duel:
    clock: ManualClock
    room: Room
    game: QuizDuel
    a: str
    b: str
    holds: tuple[HeldStake, ...]
    ra: Recorder
    rb: Recorder
    settlement: Settler

    @property
    def config(self) -> QuizConfig:
        return self.game.config

    def answer_of(self, index: int) -> int:
        return self.game.questions[index].answer_index

    async def join_both(self) -> None:
        await self.room.join(self.a, "ca", self.ra)
        await self.room.join(self.b, "cb", self.rb)

    async def play(self, plan: dict[str, list[tuple[bool, int] | None]]) -> None:
        """Play every question: plan[user][i] = (correct, ms after the question) or None."""
        await self.clock.advance(self.config.countdown_ms)
        count = len(self.config.windows_ms())
        for i in range(count):
            await self.play_question(i, {u: p[i] for u, p in plan.items()})
            if i + 1 < count:
                await self.clock.advance(self.config.reveal_ms)

    async def play_question(self, i: int, moves: dict[str, tuple[bool, int] | None]) -> None:
        """From question i going out: answer at the given offsets, then pass its deadline."""
        window = self.config.windows_ms()[i]
        elapsed = 0
        for user, move in sorted(
            ((u, m) for u, m in moves.items() if m is not None), key=lambda um: um[1][1]
        ):
            correct, at = move
            await self.clock.advance(at - elapsed)
            elapsed = at
            ans = self.answer_of(i)
            await self.room.message(user, {"t": "quiz_answer", "index": i,
                                           "choice": ans if correct else (ans + 1) % 4})
        await self.clock.advance(window - elapsed)


async def make_duel(
    ledger: Any, pool: Any, redis: Any, prefix: str, *, stake_minor: int = 50_000,
    config: QuizConfig | None = None, seed: int = 7, settlement: Settler | None = None,
    room_config: RoomConfig | None = None, observer: RoomObserver | None = None,
) -> Duel:
    a, b = str(uuid.uuid4()), str(uuid.uuid4())
    holds = (await fund_and_hold(ledger, a, stake_minor),
             await fund_and_hold(ledger, b, stake_minor))
    spec = MatchSpec(f"duel-{uuid.uuid4().hex}", "quiz", holds)
    clock = ManualClock()
    settlement = settlement or LedgerSettlement(ledger, pool)
    factory = QuizFactory(bank=BANK, seen=RedisSeenStore(redis, prefix),
                          config=config or fast_config())
    rng = random.Random(seed)
    game = factory(spec, rng)
    assert isinstance(game, QuizDuel)
    room = Room(spec, game, clock=clock, rng=rng, config=room_config, observer=observer,
                settler=settlement)
    room.start()
    await clock.settle()
    return Duel(clock, room, game, a, b, holds, Recorder(), Recorder(), settlement)


async def posted(ledger: Any, owner: str) -> int:
    return int((await ledger.balance(owner, CURRENCY)).posted_minor)


async def available(ledger: Any, owner: str) -> int:
    return int((await ledger.balance(owner, CURRENCY)).available_minor)
