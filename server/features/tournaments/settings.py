"""Tournament settings: environment variables `MATCHPOT_TOURNAMENTS_*` (docs/tournaments.md)."""

from __future__ import annotations

from pydantic_settings import BaseSettings, SettingsConfigDict


class TournamentSettings(BaseSettings):
    """Windows in ms of the server clock; every list and loop below is bounded by these."""

    model_config = SettingsConfigDict(env_prefix="MATCHPOT_TOURNAMENTS_", extra="ignore",
                                      frozen=True)

    enabled: bool = True
    match_checkin_ms: int = 600_000  # a ready match's players check in within this, or forfeit
    scheduler_interval_s: float = 1.0  # how often scheduled starts and check-ins are looked at
    hold_grace_s: int = 86_400  # an entry hold outlives the scheduled start by this much
    unscheduled_hold_s: int = 7 * 86_400  # the hold of a tournament with no start time
    max_players: int = 4_096  # the largest field any tournament may set
    max_live: int = 200  # tournaments one node drives at once
    match_attempts: int = 3  # a match room that aborts is replayed up to this many times
    feed_log_max: int = 512  # bracket updates kept for a watcher's resync
    watchers_max: int = 5_000  # spectators of one tournament on this node
    list_max: int = 100
