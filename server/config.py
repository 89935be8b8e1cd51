"""Process configuration: every knob is an environment variable (see README's table)."""

from __future__ import annotations

import os
import secrets
import socket
from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """All settings, read once at start-up. Names map to `MATCHPOT_<NAME>` unless aliased."""

    model_config = SettingsConfigDict(env_prefix="MATCHPOT_", extra="ignore")

    # Services. Unset => embedded Postgres/Redis under data_dir.
    database_url: str | None = Field(
        default=None, validation_alias=AliasChoices("DATABASE_URL", "MATCHPOT_DATABASE_URL")
    )
    redis_url: str | None = Field(
        default=None, validation_alias=AliasChoices("REDIS_URL", "MATCHPOT_REDIS_URL")
    )
    data_dir: Path = Path(".matchpot")
    db_pool_min: int = 2
    db_pool_max: int = 16
    redis_prefix: str = "mp"

    # Process.
    host: str = "127.0.0.1"
    port: int = 8000
    node_id: str = Field(default_factory=lambda: f"{socket.gethostname()}-{os.getpid()}")
    public_url: str | None = None  # how clients reach this node; default http://host:port
    log_level: str = "INFO"
    log_format: Literal["json", "console"] = "json"
    demo: bool = False

    # Money and compliance.
    currency: str = "KES"
    money_mode: Literal["credits", "real"] = "credits"
    whatsapp_real_money: bool = False  # real-money play over WhatsApp: off unless the operator opts in
    payouts_enabled: bool = False  # paying winnings out as money: off unless the operator opts in
    payments_provider: Literal["manual", "mpesa"] = "manual"
    hold_sweep_interval_s: float = 5.0

    # Auth.
    jwt_secret: str | None = None  # unset => generated once and kept in data_dir
    jwt_access_ttl_s: int = 900
    jwt_refresh_ttl_s: int = 30 * 24 * 3600
    otp_ttl_s: int = 300
    otp_max_attempts: int = 5
    otp_resend_interval_s: int = 30
    otp_max_per_hour: int = 5
    otp_sender: Literal["log", "whatsapp"] = "log"
    default_region: str = "KE"

    # Wallet limits (minor units).
    deposit_min_minor: int = 1_000
    deposit_max_minor: int = 15_000_000
    withdraw_min_minor: int = 5_000
    withdraw_max_minor: int = 15_000_000
    withdraw_daily_max_minor: int = 30_000_000

    # Websocket gateway limits.
    ws_max_frame_bytes: int = 16 * 1024
    ws_rate_per_s: float = 20.0
    ws_rate_burst: int = 40
    ws_send_queue_max: int = 256
    ws_idle_timeout_s: float = 60.0
    ws_ping_interval_s: float = 20.0
    ws_max_connections: int = 15_000

    @cached_property
    def resolved_public_url(self) -> str:
        """The URL other nodes and clients use to reach this node."""
        return self.public_url or f"http://{self.host}:{self.port}"

    def resolved_jwt_secret(self) -> str:
        """A stable signing secret: configured, or generated once per data dir."""
        if self.jwt_secret:
            return self.jwt_secret
        path = self.data_dir / "jwt_secret"
        if path.exists():
            return path.read_text().strip()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        value = secrets.token_urlsafe(48)
        path.write_text(value)
        path.chmod(0o600)
        return value
