"""Higher card: a two-player duel written only against `rooms.api`, to prove the game API.

Both players are seated, each sends `card_draw`, the room deals each a card
from its own seeded RNG (a card is drawn when asked, so nobody learns it
early), and the higher card takes the pot less the rake. Equal cards are
dealt again, at most three times; then both stakes go back. A player who
never draws loses by default when the draw window closes. An outside
`card_void` signal (an admin) refunds both at any time before the end.
"""

from __future__ import annotations

import random
from typing import Any

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from rooms.api import Frame, Game, GameError, Outcome, RoomContext, Seat, Settled, Signal
from rooms.registry import GameKind, GameServices, GameSettings
from rooms.types import MatchSpec

MAX_DEALS = 3
CARDS = range(2, 15)  # 2..10, J=11, Q=12, K=13, A=14


class HigherCardSettings(GameSettings):
    model_config = SettingsConfigDict(env_prefix="MATCHPOT_HIGHER_CARD_", extra="ignore",
                                      frozen=True)

    stakes_minor: list[int] = Field(default_factory=lambda: [1_000, 2_000])
    rake_bps: int = 1_000
    draw_window_ms: int = 5_000


class HigherCard(Game):
    name = "higher_card"
    message_types = frozenset({"card_draw"})

    def __init__(self, spec: MatchSpec, rng: random.Random, settings: HigherCardSettings) -> None:
        self.spec, self.rng, self.settings = spec, rng, settings
        self.cards: dict[str, int] = {}
        self.deals = 0
        self.phase = "waiting"

    async def on_join(self, room: RoomContext, seat: Seat, rejoined: bool) -> None:
        if self.phase == "waiting" and all(s.joined_ever for s in room.seats.values()):
            self._deal(room)

    def _deal(self, room: RoomContext) -> None:
        self.deals += 1
        self.cards.clear()
        self.phase = "drawing"
        self.deadline_ms = room.now_ms() + self.settings.draw_window_ms
        room.publish({"t": "card_deal", "deal": self.deals, "deadline_ms": self.deadline_ms})
        room.set_timer("draw_closed", self.deadline_ms)

    async def on_message(self, room: RoomContext, seat: Seat, frame: Frame, at_ms: int) -> Frame:
        if frame.get("t") != "card_draw":
            raise GameError("higher card takes only card_draw", code="unknown_message")
        if self.phase != "drawing":
            raise GameError("there is nothing to draw now", code="not_drawing")
        if seat.user_id in self.cards:
            raise GameError("you already drew this deal", code="already_drawn")
        card = self.rng.choice(CARDS)
        self.cards[seat.user_id] = card
        room.publish({"t": "card_drawn", "user_id": seat.user_id, "card": card})
        if len(self.cards) == len(room.seats):
            await self._decide(room)
        return {"t": "card_ok", "card": card}

    async def on_tick(self, room: RoomContext, timer: str) -> None:
        if timer == "draw_closed" and self.phase == "drawing":
            await self._decide(room)

    async def on_signal(self, room: RoomContext, signal: Signal) -> Frame:
        if signal.name != "card_void" or room.ending:
            raise GameError("nothing to void", code="unknown_signal")
        await self._end(room, Outcome.refund_all(self.spec.seats, result="voided"))
        return {"t": "card_voided", "by": signal.sender}

    async def _decide(self, room: RoomContext) -> None:
        room.cancel_timer("draw_closed")
        ranked = sorted(self.cards.items(), key=lambda uc: -uc[1])
        if not ranked:  # nobody drew: both stakes back
            await self._end(room, Outcome.refund_all(self.spec.seats, result="no_show"))
        elif len(ranked) == 1 or ranked[0][1] > ranked[1][1]:
            await self._end(room, Outcome.winner_takes_pot(
                self.spec.seats, ranked[0][0], rake_bps=self.settings.rake_bps,
                scores=self.cards))
        elif self.deals < MAX_DEALS:
            self._deal(room)
        else:
            await self._end(room, Outcome.refund_all(self.spec.seats, result="tie_refund",
                                                     scores=self.cards))

    async def _end(self, room: RoomContext, outcome: Outcome) -> None:
        self.phase, self.deadline_ms = "settling", None
        await room.end(outcome)

    async def on_settled(self, room: RoomContext, settled: Settled) -> None:
        self.phase = "finished"
        room.publish({"t": "card_result", "result": settled.outcome.result,
                      "winner": settled.winner, "payouts_minor": dict(settled.payouts_minor),
                      "rake_minor": settled.rake_minor, "refunded": settled.refunded})

    async def on_abort(self, room: RoomContext, reason: str) -> None:
        room.cancel_timer("draw_closed")
        self.phase = "aborted"

    def snapshot(self, viewer: str | None) -> Frame:
        return {"phase": self.phase, "deal": self.deals, "cards": dict(self.cards)}


def make_factory(settings: Any, services: GameServices) -> Any:
    return lambda spec, rng: HigherCard(spec, rng, settings)


KIND = GameKind(
    name="higher_card", title="Higher card", summary="Both draw a card; the higher one wins.",
    settings_cls=HigherCardSettings, make_factory=make_factory,
    message_types=HigherCard.message_types,
)
