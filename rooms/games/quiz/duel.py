"""The quiz duel (Majibu's rules), played live in a room.

Two players, equal stakes. Both seated -> countdown -> N multiple-choice
questions, each with its own deadline (together the answering window, 15 s by
default). Answers are stamped with the room clock on arrival. After each
deadline both players see the right answer and both scores. More correct
answers wins; a tie goes to the lower total answer time (an unanswered question
counts its whole duration); an exact tie returns both stakes. A seat that never
joins within the join timeout voids both holds (nobody loses a stake to a
no-show). The game only decides: it ends the room with an `Outcome`, and the
runtime commits it before `on_settled` announces the result.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

import structlog

from rooms.api import Frame, Game, Outcome, RoomContext, Seat, Settled
from rooms.errors import GameError, InvalidMatch
from rooms.games.quiz.questions import Question, QuestionBank, SeenStore
from rooms.types import MatchSpec

log = structlog.get_logger(__name__)

GAME = "quiz"
MAX_QUESTIONS = 50


@dataclass(frozen=True, slots=True)
class QuizConfig:
    """Rules of a quiz duel; every duration in ms of the room clock."""

    stake_tiers_minor: tuple[int, ...] = (5_000, 10_000, 50_000)
    rake_bps: int = 2_000
    countdown_ms: int = 3_000
    question_count: int = 5
    answer_window_ms: int = 15_000
    question_ms: tuple[int, ...] | None = None  # explicit per-question windows; default: even split
    reveal_ms: int = 1_500
    join_timeout_ms: int = 30_000

    def __post_init__(self) -> None:
        assert self.stake_tiers_minor and all(t > 0 for t in self.stake_tiers_minor)
        assert 0 <= self.rake_bps <= 10_000
        assert 1 <= self.question_count <= MAX_QUESTIONS
        assert self.countdown_ms >= 0 and self.reveal_ms >= 0 and self.join_timeout_ms > 0
        if self.question_ms is not None:
            assert len(self.question_ms) == self.question_count
            assert all(ms > 0 for ms in self.question_ms)
        else:
            assert self.answer_window_ms >= self.question_count

    def windows_ms(self) -> tuple[int, ...]:
        """Each question's answering window; they sum to the whole answering window."""
        if self.question_ms is not None:
            return self.question_ms
        base, extra = divmod(self.answer_window_ms, self.question_count)
        return tuple(base + (1 if i < extra else 0) for i in range(self.question_count))


@dataclass(slots=True)
class _Answer:
    choice: int
    elapsed_ms: int


@dataclass(slots=True)
class _Asked:
    question: Question
    sent_ms: int
    deadline_ms: int
    answers: dict[str, _Answer] = field(default_factory=dict)
    revealed: bool = False


class QuizDuel(Game):
    name = GAME
    message_types = frozenset({"quiz_answer"})

    def __init__(
        self, spec: MatchSpec, rng: random.Random, *, bank: QuestionBank, seen: SeenStore,
        config: QuizConfig,
    ) -> None:
        validate_match(spec, config)
        self.spec = spec
        self.rng = rng
        self.bank = bank
        self.seen = seen
        self.config = config
        self.windows_ms = config.windows_ms()
        self.players = spec.user_ids
        self.stake_minor = spec.seats[0].stake_minor
        self.questions: list[Question] = []
        self.asked: list[_Asked] = []
        self.scores = {u: 0 for u in self.players}
        self.times_ms = {u: 0 for u in self.players}
        self.phase = "waiting"
        self.deadline_ms: int | None = None
        self.starts_at_ms: int | None = None
        self.outcome: tuple[str | None, str] | None = None  # (winner, result) once decided
        self.result: Settled | None = None
        self.result_frame: Frame | None = None

    # ----- lifecycle -----

    async def on_create(self, room: RoomContext) -> None:
        try:
            avoid = await self.seen.recent(self.players)
        except Exception:  # a Redis hiccup must not stop the duel: repeats are the lesser harm
            log.warning("quiz_seen_unavailable", room=room.room_id, exc_info=True)
            avoid = set()
        self.questions = self.bank.pick(self.rng, self.config.question_count, avoid)
        self.deadline_ms = room.now_ms() + self.config.join_timeout_ms
        room.set_timer("join_timeout", self.deadline_ms)

    async def on_join(self, room: RoomContext, seat: Seat, rejoined: bool) -> None:
        if self.phase != "waiting" or not all(s.joined_ever for s in room.seats.values()):
            return
        room.cancel_timer("join_timeout")
        self.phase = "countdown"
        self.starts_at_ms = room.now_ms() + self.config.countdown_ms
        self.deadline_ms = self.starts_at_ms
        try:
            await self.seen.remember(self.players, [q.id for q in self.questions])
        except Exception:
            log.warning("quiz_seen_not_saved", room=room.room_id, exc_info=True)
        room.publish({
            "t": "quiz_start", "players": list(self.players), "stake_minor": self.stake_minor,
            "currency": self.spec.currency, "question_count": len(self.questions),
            "question_ms": list(self.windows_ms), "starts_at_ms": self.starts_at_ms,
        })
        room.set_timer("question", self.starts_at_ms)

    async def on_tick(self, room: RoomContext, timer: str) -> None:
        if timer == "join_timeout" and self.phase == "waiting":
            await self._no_show(room)
        elif timer == "question":
            self._ask_next(room)
        elif timer == "deadline":
            await self._reveal(room)

    async def on_message(
        self, room: RoomContext, seat: Seat, frame: Frame, at_ms: int
    ) -> Frame | None:
        if frame.get("t") != "quiz_answer":
            raise GameError("a quiz duel takes only quiz_answer messages", code="unknown_message")
        index, choice = frame.get("index"), frame.get("choice")
        if not _is_int(index) or not _is_int(choice):
            raise GameError("index and choice must be whole numbers", code="invalid_answer")
        assert isinstance(index, int) and isinstance(choice, int)
        current = self.asked[-1] if self.asked else None
        if current is None or index != len(self.asked) - 1:
            raise GameError("that question is not the one being asked", code="wrong_question")
        if current.revealed or at_ms > current.deadline_ms:
            raise GameError("the time for that question is over", code="answer_late")
        if seat.user_id in current.answers:
            raise GameError("you already answered that question", code="answer_repeated")
        if not 0 <= choice < len(current.question.choices):
            raise GameError("choose one of the offered answers", code="invalid_choice")
        elapsed_ms = max(0, at_ms - current.sent_ms)
        current.answers[seat.user_id] = _Answer(choice, elapsed_ms)
        room.publish({"t": "quiz_answered", "index": index, "user_id": seat.user_id})
        return {"t": "quiz_answer_ok", "index": index, "elapsed_ms": elapsed_ms}

    async def on_abort(self, room: RoomContext, reason: str) -> None:
        for name in ("join_timeout", "question", "deadline"):
            room.cancel_timer(name)
        self.phase = "aborted"
        self.deadline_ms = None

    async def on_settled(self, room: RoomContext, settled: Settled) -> None:
        self.result = settled
        self.phase = "finished"
        self.deadline_ms = None
        winner = settled.winner
        frame: Frame = {
            "t": "quiz_result", "result": settled.outcome.result, "winner": winner,
            "scores": dict(self.scores), "times_ms": dict(self.times_ms),
            "pot_minor": settled.pot_minor,
            "payout_minor": settled.payout_of(winner) if winner else 0,
            "rake_minor": settled.rake_minor, "refunded": settled.refunded,
            "currency": self.spec.currency,
        }
        self.result_frame = frame
        room.publish(frame)

    # ----- the duel -----

    def _ask_next(self, room: RoomContext) -> None:
        index = len(self.asked)
        assert index < len(self.questions)
        now = room.now_ms()
        asked = _Asked(self.questions[index], now, now + self.windows_ms[index])
        self.asked.append(asked)
        self.phase = "question"
        self.deadline_ms = asked.deadline_ms
        room.publish({"t": "quiz_question", "index": index, "count": len(self.questions),
                      "deadline_ms": asked.deadline_ms, **asked.question.public()})
        room.set_timer("deadline", asked.deadline_ms)

    async def _reveal(self, room: RoomContext) -> None:
        index = len(self.asked) - 1
        asked = self.asked[index]
        assert not asked.revealed
        asked.revealed = True
        window_ms = asked.deadline_ms - asked.sent_ms
        correct: dict[str, bool] = {}
        for uid in self.players:
            answer = asked.answers.get(uid)
            correct[uid] = answer is not None and answer.choice == asked.question.answer_index
            self.scores[uid] += int(correct[uid])
            self.times_ms[uid] += answer.elapsed_ms if answer is not None else window_ms
        room.publish({
            "t": "quiz_reveal", "index": index, "question_id": asked.question.id,
            "answer_index": asked.question.answer_index,
            "choices": {u: (a.choice if (a := asked.answers.get(u)) else None)
                        for u in self.players},
            "correct": correct, "scores": dict(self.scores), "times_ms": dict(self.times_ms),
        })
        if index + 1 < len(self.questions):
            self.phase = "reveal"
            self.deadline_ms = room.now_ms() + self.config.reveal_ms
            room.set_timer("question", self.deadline_ms)
            return
        self.outcome = decide(self.scores, self.times_ms)
        self.phase = "settling"
        self.deadline_ms = None
        await room.end(self._outcome_of(*self.outcome))

    async def _no_show(self, room: RoomContext) -> None:
        self.outcome = (None, "no_show")
        self.phase = "settling"
        await room.end(self._outcome_of(None, "no_show"))

    def _outcome_of(self, winner: str | None, result_name: str) -> Outcome:
        """The money of a decided duel: the winner takes the pot less rake; else all refunded."""
        detail = {"question_ids": [a.question.id for a in self.asked]}
        if winner is None:
            return Outcome.refund_all(self.spec.seats, result=result_name, scores=self.scores,
                                      times_ms=self.times_ms, detail=detail)
        return Outcome.winner_takes_pot(
            self.spec.seats, winner, rake_bps=self.config.rake_bps, result=result_name,
            scores=self.scores, times_ms=self.times_ms, detail=detail,
        )

    # ----- views -----

    def snapshot(self, viewer: str | None) -> Frame:
        current: dict[str, Any] | None = None
        if self.asked:
            asked = self.asked[-1]
            current = {"index": len(self.asked) - 1, "deadline_ms": asked.deadline_ms,
                       **asked.question.public(),
                       "answered": {u: u in asked.answers for u in self.players}}
            if asked.revealed:
                current["answer_index"] = asked.question.answer_index
            if viewer is not None and viewer in asked.answers:
                current["your_choice"] = asked.answers[viewer].choice
        return {
            "phase": self.phase, "players": list(self.players), "stake_minor": self.stake_minor,
            "question_count": len(self.questions) or self.config.question_count,
            "question_ms": list(self.windows_ms), "starts_at_ms": self.starts_at_ms,
            "question": current, "scores": dict(self.scores), "times_ms": dict(self.times_ms),
            "result": self.result_frame,
        }


def decide(scores: dict[str, int], times_ms: dict[str, int]) -> tuple[str | None, str]:
    """(winner, result): more correct wins, then less total time; an exact tie has no winner."""
    ranked = sorted(scores, key=lambda u: (-scores[u], times_ms[u], u))
    first, second = ranked[0], ranked[1]
    if (scores[first], times_ms[first]) == (scores[second], times_ms[second]):
        return None, "tie_refund"
    return first, "win"


def validate_match(spec: MatchSpec, config: QuizConfig) -> None:
    """A duel needs two seats with equal stakes from a configured tier.

    A server-made match may instead be `stakeless` (both stakes zero): a tournament's
    duel, where the entry fee was the stake and the room moves no money.
    """
    if len(spec.seats) != 2:
        raise InvalidMatch("a quiz duel has exactly two seats")
    stakes = {s.stake_minor for s in spec.seats}
    if len(stakes) != 1:
        raise InvalidMatch("both players in a duel stake the same amount")
    if spec.options.get("stakeless") is True and stakes == {0}:
        return
    if next(iter(stakes)) not in config.stake_tiers_minor:
        raise InvalidMatch(f"the stake must be one of {list(config.stake_tiers_minor)}")


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


class QuizFactory:
    """Makes a `QuizDuel` per match (the room kind's factory)."""

    def __init__(
        self, *, bank: QuestionBank, seen: SeenStore, config: QuizConfig | None = None,
    ) -> None:
        self.bank = bank
        self.seen = seen
        self.config = config or QuizConfig()
        assert len(bank) >= self.config.question_count

    def __call__(self, spec: MatchSpec, rng: random.Random) -> Game:
        return QuizDuel(spec, rng, bank=self.bank, seen=self.seen, config=self.config)
