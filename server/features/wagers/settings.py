"""Settings of the wagers feature: environment variables `MATCHPOT_WAGERS_*` (docs/wagers.md).

The room's own windows and fee are the room kind's (`MATCHPOT_WAGER_*`,
rooms/games/wager/settings.py); these are the feature's: who may play, the
queues, uploads, disputes, ratings and anti-collusion limits.
"""

from __future__ import annotations

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class WagersSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="MATCHPOT_WAGERS_", extra="ignore", frozen=True)

    min_age_years: int = 18
    modes: list[str] = Field(default_factory=lambda: ["gunfight", "snd", "tdm"])
    platforms: list[str] = Field(default_factory=lambda: ["psn", "xbox", "pc"])
    regions: list[str] = Field(default_factory=lambda: ["eu", "na", "af", "as", "sa", "oc"])
    challenge_ttl_s: int = 24 * 3600  # an open challenge nobody accepts lapses (nothing is held)
    open_challenges_max: int = 5  # per player at once
    hold_ttl_s: int = 14 * 24 * 3600  # a match's stakes stay held this long at most
    evidence_max_bytes: int = 2 * 1024 * 1024
    evidence_per_match: int = 10
    reliability_floor: int = 50  # below it a player can neither post nor accept
    no_show_penalty: int = 10
    false_claim_penalty: int = 25
    completed_bonus: int = 1
    rating_max_change: float = 3.0  # mu points per match, either way
    pair_daily_rated_max: int = 3  # rated matches between the same two players per UTC day
    leaderboard_min_matches: int = 10
    leaderboard_active_days: int = 7
    lobby_watch_s: int = 600  # a lobby watcher hears changes this long after asking
    lobby_watchers_max: int = 500
    adopt_interval_s: float = 5.0  # how often a node looks for matches to resume
    resume_cooldown_s: float = 30.0
    queue_max_wait_s: int = 900

    @model_validator(mode="after")
    def _bounds(self) -> WagersSettings:
        assert 13 <= self.min_age_years <= 99
        assert self.modes and self.platforms and self.regions
        assert set(self.platforms) <= {"psn", "xbox", "pc"}, self.platforms
        assert all(m.isalnum() and m.islower() and len(m) <= 12 for m in self.modes)
        assert 0 < self.evidence_max_bytes <= 10 * 1024 * 1024
        assert 1 <= self.evidence_per_match <= 50
        assert 0 <= self.reliability_floor <= 100
        assert self.rating_max_change > 0 and self.pair_daily_rated_max >= 0
        assert self.hold_ttl_s >= 6 * 3600 and self.challenge_ttl_s > 0
        assert self.adopt_interval_s > 0 and self.resume_cooldown_s >= 0
        return self
