"""Staked self-challenges' settings: environment variables `MATCHPOT_CHALLENGES_*`.

Loaded once at the feature's start-up (docs/challenges.md lists each one). A test
replaces `ChallengeService.settings` with its own instance instead.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class ChallengeSettings(BaseSettings):
    """Limits, windows and the verifier; every duration in seconds of the server clock."""

    model_config = SettingsConfigDict(env_prefix="MATCHPOT_CHALLENGES_", extra="ignore")

    enabled: bool = True
    min_stake_minor: int = Field(default=1_000, ge=1)
    max_stake_minor: int = Field(default=100_000, ge=1)
    max_open_per_player: int = Field(default=3, ge=1, le=100)
    min_lead_s: int = Field(default=3_600, ge=60)  # a deadline at least this far away
    max_lead_s: int = Field(default=30 * 24 * 3_600, ge=3_600)  # and at most this far
    draft_ttl_s: int = Field(default=900, ge=60)  # a draft may be confirmed this long
    cooling_off_s: int = Field(default=600, ge=0)  # cancel within this for a full refund
    deadline_grace_s: int = Field(default=120, ge=0)  # wait for proofs still being processed
    review_window_s: int = Field(default=7 * 24 * 3_600, ge=3_600)  # the hold outlives this
    auto_reminder_before_s: int = Field(default=2 * 3_600, ge=60)
    max_reminders: int = Field(default=5, ge=1, le=20)  # requested reminders per challenge
    default_time_zone: str = "Africa/Nairobi"

    # Outcomes.
    forfeit_to: Literal["house", "charity"] = "house"
    bonus_bps: int = Field(default=0, ge=0, le=10_000)  # of the stake, on success (house pays)
    bonus_max_minor: int = Field(default=0, ge=0)  # 0: no cap besides bonus_bps

    # Proofs.
    max_image_bytes: int = Field(default=5 * 1024 * 1024, ge=1024)
    max_video_bytes: int = Field(default=16 * 1024 * 1024, ge=1024)
    max_proofs_per_challenge: int = Field(default=5, ge=1, le=50)
    reuse_max_distance: int = Field(default=6, ge=0, le=32)  # phash bits that may differ
    uploads_dir: str = ""  # default: <data dir>/uploads

    # The verifier: `admin` (a review queue, the default) or `http` (docs/challenges.md).
    verifier: Literal["admin", "http"] = "admin"
    verifier_url: str = ""
    verifier_token: str = ""
    verifier_timeout_s: float = Field(default=10.0, gt=0, le=120)
    verifier_attempts: int = Field(default=3, ge=1, le=10)
    verifier_retry_base_s: float = Field(default=0.5, ge=0, le=30)
    verifier_min_confidence: float = Field(default=0.9, ge=0, le=1)

    # Background work.
    tick_s: float = Field(default=5.0, gt=0, le=300)
    batch: int = Field(default=100, ge=1, le=1000)
