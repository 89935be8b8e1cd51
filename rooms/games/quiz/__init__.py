"""The quiz duel room kind: two equal stakes, the same questions, against the clock."""

from __future__ import annotations

from typing import Any

from rooms.api import GameFactory
from rooms.games.quiz.duel import QuizConfig, QuizDuel, QuizFactory, decide
from rooms.games.quiz.questions import QuestionBank, RedisSeenStore
from rooms.games.quiz.settings import QuizSettings
from rooms.registry import GameKind, GameServices

__all__ = ["KIND", "QuizConfig", "QuizDuel", "QuizFactory", "QuizSettings", "decide"]


def make_factory(settings: Any, services: GameServices) -> GameFactory:
    """One question bank per process; the questions a player saw recently live in Redis."""
    assert isinstance(settings, QuizSettings)
    seen = RedisSeenStore(services.redis, services.redis_prefix,
                          keep_duels=settings.no_repeat_duels, per_duel=settings.question_count)
    return QuizFactory(bank=QuestionBank.load(), seen=seen, config=settings.duel_config())


KIND = GameKind(
    name="quiz",
    title="Quiz duel",
    summary="Two players stake the same amount and answer the same five questions against"
            " the clock; more right answers wins, then the faster.",
    settings_cls=QuizSettings,
    make_factory=make_factory,
    message_types=QuizDuel.message_types,
)
