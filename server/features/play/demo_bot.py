"""Demo mode only: a house bot that takes the other seat when a player waits alone.

So a newcomer running `python3 dev.py demo` can play a whole duel by
themselves. The bot sits in-process (no socket), answers after a short think,
and is right about 60% of the time. It plays with demo credits the house gives
it; it never runs unless MATCHPOT_DEMO is on.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import random
from typing import Any, Protocol

import structlog

from ledger import HOUSE, TransferRequest, transfer_id, user_account
from matchmaking.errors import MatchmakingError
from rooms.errors import RoomError
from rooms.runtime import Room
from server.auth.users import get_or_create_user_by_phone
from server.state import AppState

log = structlog.get_logger(__name__)

BOT_PHONE = "+254700000999"
BOT_NAME = "Demo bot"
BOT_ACCURACY = 0.6
BOT_FLOAT_MINOR = 5_000_000
WAIT_BEFORE_JOIN_S = 3.0
POLL_S = 1.0
MAX_TASKS = 64


class DemoBot:
    """One in-process player; `seat(room)` is called by the play service on a match."""

    def __init__(self, state: AppState, user_id: str, rng: random.Random | None = None) -> None:
        self.state = state
        self.user_id = user_id
        self.rng = rng or random.Random()
        self.tasks: set[asyncio.Task[None]] = set()

    async def seat(self, room: Room) -> None:
        await room.join(self.user_id, f"bot-{room.room_id[:8]}", lambda f: self._on_frame(room, f))

    def _on_frame(self, room: Room, frame: dict[str, Any]) -> None:
        if frame.get("t") != "quiz_question" or len(self.tasks) >= MAX_TASKS:
            return
        task = asyncio.get_running_loop().create_task(self._answer(room, frame))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _answer(self, room: Room, question: dict[str, Any]) -> None:
        left_ms = int(question["deadline_ms"]) - room.now_ms()
        await asyncio.sleep(self.rng.uniform(0.3, 0.8) * max(left_ms, 0) / 1000)
        game: Any = room.game
        right = game.asked[question["index"]].question.answer_index
        wrong = [i for i in range(len(question["choices"])) if i != right]
        choice = right if self.rng.random() < BOT_ACCURACY else self.rng.choice(wrong)
        with contextlib.suppress(RoomError):
            await room.message(self.user_id, {"t": "quiz_answer", "index": question["index"],
                                              "choice": choice})


async def _ensure_bot(state: AppState) -> DemoBot:
    user = await get_or_create_user_by_phone(state.pool, BOT_PHONE)
    await state.pool.execute("UPDATE users SET display_name = $2 WHERE id = $1::uuid",
                             user.id, BOT_NAME)
    return DemoBot(state, user.id)


async def _top_up(state: AppState, bot: DemoBot) -> None:
    """Keep the bot's demo credits above its float; one top-up per bot per hour at most."""
    owner = user_account(bot.user_id)
    bal = await state.ledger.balance(owner, state.settings.currency)
    if bal.available_minor >= BOT_FLOAT_MINOR // 2:
        return
    hour = dt.datetime.fromtimestamp(state.clock.now_ms() / 1000, dt.UTC).strftime("%Y%m%d%H")
    await state.ledger.transfer(TransferRequest(
        id=transfer_id("demo-bot-float", bot.user_id, hour), debit=HOUSE, credit=owner,
        amount_minor=BOT_FLOAT_MINOR, currency=state.settings.currency, code="demo_float",
    ))


class Play(Protocol):
    """What the bot needs of the play service (kept as an interface: no import cycle)."""

    local_players: dict[str, Any]

    def kind(self, name: str) -> Any: ...


async def run(state: AppState, play: Play) -> None:
    """Join any quiz queue where one player has waited a few seconds, as the bot."""
    quiz = play.kind("quiz")
    matchmaker = quiz.matchmaker
    bot = await _ensure_bot(state)
    play.local_players[bot.user_id] = bot
    waiting_since: dict[str, float] = {}
    loop = asyncio.get_running_loop()
    while True:
        try:
            await _top_up(state, bot)
            if await matchmaker.ticket_of(bot.user_id) is None:
                for spec in quiz.queues:
                    if await matchmaker.queue_length(spec) != 1:
                        waiting_since.pop(spec.tag, None)
                        continue
                    first = waiting_since.setdefault(spec.tag, loop.time())
                    if loop.time() - first >= WAIT_BEFORE_JOIN_S:
                        waiting_since.pop(spec.tag, None)
                        await matchmaker.join(bot.user_id, spec.game, spec.stake_minor,
                                              spec.currency)
                        log.info("demo_bot_joined", stake_minor=spec.stake_minor)
                        break
        except MatchmakingError as exc:
            log.info("demo_bot_join_refused", code=exc.code)
        except Exception:
            log.exception("demo_bot_step_failed")
        await asyncio.sleep(POLL_S)
