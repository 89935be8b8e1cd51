"""The quiz duel's settings: environment variables `MATCHPOT_QUIZ_*` (docs/quiz.md)."""

from __future__ import annotations

from pydantic_settings import SettingsConfigDict

from rooms.games.quiz.duel import QuizConfig
from rooms.registry import GameSettings


class QuizSettings(GameSettings):
    """Stake tiers, rake and timing of a duel; every duration in ms of the room clock."""

    model_config = SettingsConfigDict(env_prefix="MATCHPOT_QUIZ_", extra="ignore", frozen=True)

    countdown_ms: int = 3_000
    question_count: int = 5
    answer_window_ms: int = 15_000  # shared evenly by the questions
    reveal_ms: int = 1_500
    no_repeat_duels: int = 20  # a player meets no question from their last N duels

    def duel_config(self) -> QuizConfig:
        """The rules one room plays by (checked by QuizConfig's own assertions)."""
        return QuizConfig(
            stake_tiers_minor=self.stake_tiers_minor, rake_bps=self.rake_bps,
            countdown_ms=self.countdown_ms, question_count=self.question_count,
            answer_window_ms=self.answer_window_ms, reveal_ms=self.reveal_ms,
            join_timeout_ms=self.join_timeout_ms,
        )
