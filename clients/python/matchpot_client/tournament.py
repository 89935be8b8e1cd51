"""Tournaments on top of the client: enter, check in, sit in each match, follow the bracket.

    client = TournamentClient(base_url, access_token=token)
    await client.connect()
    await client.register(tid)
    bot = TournamentBot(client, random.Random(1))
    final = await bot.play(tid, timeout_s=300)   # tournament_finished or tournament_cancelled

A bot guesses its quiz answers (it never knows the right one, docs/quiz.md);
`show_up=False` makes a bot that never checks in to its matches (a no-show).
The frames are those of docs/protocol.md, "Tournaments".
"""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass, field
from typing import Any

from matchpot_client.errors import MatchpotError
from matchpot_client.play import PlayClient

__all__ = ["TournamentBot", "TournamentClient", "TournamentRun"]

MAX_EVENTS = 10_000  # a bound on one bot's tournament (about 20 frames per match)
END_TYPES = ("tournament_finished", "tournament_cancelled")
BOT_TYPES = ("tournament_match_ready", "tournament_match_started", "quiz_question",
             "quiz_result", "room_aborted", *END_TYPES)


class TournamentClient(PlayClient):
    """A PlayClient that also speaks the tournament messages."""

    async def register(self, tournament_id: str) -> dict[str, Any]:
        """Enter; the entry fee is held until the start."""
        return await self.request("tournament_register", tournament_id=tournament_id)

    async def leave(self, tournament_id: str) -> dict[str, Any]:
        return await self.request("tournament_leave", tournament_id=tournament_id)

    async def checkin(self, tournament_id: str) -> dict[str, Any]:
        """Check in to the tournament (during check-in) or to your ready match."""
        return await self.request("tournament_checkin", tournament_id=tournament_id)

    async def seat(self, tournament_id: str) -> dict[str, Any]:
        """Sit in your started match's room."""
        return await self.request("tournament_seat", tournament_id=tournament_id)

    async def watch(self, tournament_id: str, since_seq: int | None = None) -> dict[str, Any]:
        fields: dict[str, Any] = {"tournament_id": tournament_id}
        if since_seq is not None:
            fields["since_seq"] = since_seq
        return await self.request("tournament_watch", **fields)


@dataclass
class TournamentRun:
    """What one bot saw of a tournament."""

    matches: int = 0
    answers: int = 0
    rooms: list[str] = field(default_factory=list)
    final: dict[str, Any] = field(default_factory=dict)


class TournamentBot:
    def __init__(self, client: TournamentClient, rng: random.Random, *, show_up: bool = True,
                 think_min_s: float = 0.0, think_max_s: float = 0.05) -> None:
        assert 0 <= think_min_s <= think_max_s
        self.client = client
        self.rng = rng
        self.show_up = show_up
        self.think = (think_min_s, think_max_s)

    async def play(self, tournament_id: str, *, timeout_s: float) -> TournamentRun:
        """Play every match until the tournament ends for this player (bounded in time)."""
        run = TournamentRun()
        deadline = time.monotonic() + timeout_s
        for _ in range(MAX_EVENTS):
            left = deadline - time.monotonic()
            if left <= 0:
                raise MatchpotError("timeout", "The tournament did not end in time.")
            event = await self.client.next_of(BOT_TYPES, timeout=left)
            t = event["t"]
            if t in END_TYPES:
                if event.get("tournament_id") == tournament_id:
                    run.final = event
                    return run
            elif t == "tournament_match_ready" and self.show_up:
                reply = await self.client.checkin(tournament_id)
                if reply.get("room_id"):
                    await self._sit(tournament_id, str(reply["room_id"]), run)
            elif t == "tournament_match_started" and self.show_up:
                await self._sit(tournament_id, str(event["room_id"]), run)
            elif t == "quiz_question":
                await self._answer(event, run)
        raise MatchpotError("too_many_events", "The tournament sent more frames than expected.")

    async def _sit(self, tournament_id: str, room_id: str, run: TournamentRun) -> None:
        if room_id in run.rooms:
            return
        run.rooms.append(room_id)
        run.matches += 1
        try:
            await self.client.seat(tournament_id)
        except MatchpotError as exc:
            if exc.code not in ("no_match_started", "room_not_found"):
                raise

    async def _answer(self, question: dict[str, Any], run: TournamentRun) -> None:
        choices = question.get("choices") or []
        if not choices:
            return
        await asyncio.sleep(self.rng.uniform(*self.think))
        try:
            await self.client.answer(str(question["room_id"]), int(question["index"]),
                                     self.rng.randrange(len(choices)))
            run.answers += 1
        except MatchpotError as exc:
            if exc.code not in ("answer_late", "wrong_question", "room_not_found"):
                raise
