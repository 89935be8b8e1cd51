"""The wager match's settings: environment variables `MATCHPOT_WAGER_*` (docs/wagers.md)."""

from __future__ import annotations

from pydantic import Field, model_validator
from pydantic_settings import SettingsConfigDict

from rooms.registry import GameSettings

MINUTE_MS = 60_000


class WagerSettings(GameSettings):
    """Windows of one match (room-clock ms), its fee and the lobby chat's limits."""

    model_config = SettingsConfigDict(env_prefix="MATCHPOT_WAGER_", extra="ignore", frozen=True)

    stakes_minor: list[int] = Field(default_factory=lambda: [10_000, 50_000, 100_000, 500_000])
    rake_bps: int = 1_000  # the platform fee: 10% of the pot, taken only at settlement
    ready_window_ms: int = 15 * MINUTE_MS  # both confirm ready by then, or the match is void
    play_window_ms: int = 120 * MINUTE_MS  # a report must arrive by then, or the match is void
    confirm_window_ms: int = 30 * MINUTE_MS  # a lone report stands after this
    chat_max_chars: int = 200
    chat_burst: int = 5  # messages a player may send within chat_window_ms
    chat_window_ms: int = 10_000
    chat_log_max: int = 100  # kept (and journaled) for the players and a dispute's reviewer

    @model_validator(mode="after")
    def _bounds(self) -> WagerSettings:
        assert self.ready_window_ms > 0 and self.play_window_ms > 0 and self.confirm_window_ms > 0
        assert 1 <= self.chat_max_chars <= 1_000 and 1 <= self.chat_burst <= 100
        assert self.chat_window_ms > 0 and 1 <= self.chat_log_max <= 1_000
        return self
