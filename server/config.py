"""Process configuration: every knob is an environment variable (see README's table)."""

from __future__ import annotations

import os
import secrets
import socket
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

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
    web_dir: Path | None = None  # the PWA and admin page; default: clients/web in this checkout

    # Money and compliance.
    currency: str = "KES"
    money_mode: Literal["credits", "real"] = "credits"
    # Real-money play over WhatsApp: off unless the operator opts in.
    whatsapp_real_money: bool = False
    payouts_enabled: bool = False  # paying winnings out as money: off unless the operator opts in
    payments_provider: Literal["manual", "mpesa"] = "manual"
    hold_sweep_interval_s: float = 5.0

    # Room kinds (rooms/registry.py): the modules that define them, and per-kind overrides of
    # their own settings (each kind also reads its environment, e.g. MATCHPOT_QUIZ_STAKES_MINOR).
    games: list[str] = ["rooms.games.quiz"]
    game_settings: dict[str, dict[str, Any]] = Field(default_factory=dict)

    # Matchmaking and rooms.
    mm_window_start: int = 50
    mm_window_max: int = 400
    mm_window_grow_s: float = 60.0
    mm_max_wait_s: int = 1_800
    mm_timeout_bonus_bps: int = 500
    mm_avoid_recent_s: int = 0
    mm_max_queue_len: int = 10_000
    room_grace_ms: int = 20_000
    room_snapshots_per_s: float = 0.5  # public snapshots written to the Redis directory per room
    rooms_max: int = 5_000
    seats_max: int = 10_000
    drain_timeout_s: float = 25.0
    node_heartbeat_s: float = 5.0

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

    # WhatsApp Cloud API channel (docs/whatsapp.md).
    whatsapp_enabled: bool = False
    whatsapp_verify_token: str = ""  # echoed back by Meta when the webhook is registered
    whatsapp_app_secret: str = ""  # signs every webhook body (X-Hub-Signature-256)
    whatsapp_access_token: str = ""  # bearer token for the Graph API
    whatsapp_phone_number_id: str = ""
    whatsapp_api_base: str = "https://graph.facebook.com"
    whatsapp_api_version: str = "v21.0"
    whatsapp_rate_per_s: int = 80  # messages per second per business number, all nodes together
    whatsapp_pair_interval_s: float = 6.0  # at most one message per user per interval
    whatsapp_alert_templates: dict[str, str] = Field(default_factory=dict)  # kind -> template
    whatsapp_template_language: str = "en"
    whatsapp_send_max_attempts: int = 6  # per message, then it is marked failed
    whatsapp_retry_base_s: float = 1.0  # backoff: base * 2**attempt, capped at 60 s
    whatsapp_http_timeout_s: float = 10.0
    whatsapp_resend_unknown: bool = False  # resend after an ambiguous failure (operator policy)
    whatsapp_unknown_grace_s: float = 900.0  # wait this long for a status before such a resend

    # Wallet limits (minor units).
    deposit_min_minor: int = 1_000
    deposit_max_minor: int = 15_000_000
    withdraw_min_minor: int = 5_000
    withdraw_max_minor: int = 15_000_000
    withdraw_daily_max_minor: int = 30_000_000

    # M-Pesa (Daraja). Secrets come from the environment only.
    mpesa_base_url: str = "https://sandbox.safaricom.co.ke"
    mpesa_consumer_key: str = ""
    mpesa_consumer_secret: str = ""
    mpesa_shortcode: str = ""
    mpesa_passkey: str = ""
    mpesa_callback_base_url: str = ""  # public https URL Daraja calls back; default public_url
    mpesa_callback_token: str = ""  # secret path segment of every callback URL
    mpesa_b2c_initiator: str = ""
    mpesa_b2c_security_credential: str = ""
    mpesa_b2c_shortcode: str = ""
    mpesa_timeout_s: float = 15.0
    mpesa_reconcile_after_s: int = 180  # STK requests pending longer than this are queried
    mpesa_reconcile_interval_s: float = 60.0

    # Quick games (minor units).
    quick_bet_min_minor: int = 1_000
    quick_bet_max_minor: int = 100_000
    quick_daily_max_minor: int = 1_000_000  # total staked per player per UTC day

    # Websocket gateway limits.
    ws_max_frame_bytes: int = 16 * 1024
    ws_rate_per_s: float = 20.0
    ws_rate_burst: int = 40
    ws_send_queue_max: int = 256
    ws_idle_timeout_s: float = 60.0
    ws_ping_interval_s: float = 20.0
    ws_max_connections: int = 15_000

    # Abuse limits and hardening (docs/api.md "Limits and hardening").
    # Admin login: attempts are counted before the password is hashed, per name and per
    # client IP; a successful login gives its attempt back.
    admin_login_max_per_name: int = 10
    admin_login_max_per_ip: int = 30
    admin_login_window_s: int = 900
    admin_login_hash_concurrency: int = 2  # argon2 verifications at once (64 MiB each)
    # Login codes requested per client IP per window (each one costs a message).
    otp_ip_max: int = 20
    otp_ip_window_s: int = 600
    # /metrics: with a token, `Authorization: Bearer <token>` is required; without one,
    # only loopback clients are answered.
    metrics_token: str = ""
    # Extra CSP connect-src sources (space separated), e.g. other nodes' wss:// origins.
    csp_connect_src: str = ""
    # HTTP server limits (uvicorn): a request's headers must arrive within the timeout and
    # stay under the size; idle keep-alive connections close; concurrency 0 = ws cap + 1024.
    http_header_timeout_s: float = 10.0
    http_max_header_bytes: int = 16 * 1024
    http_keep_alive_s: int = 5
    http_limit_concurrency: int = 0
    # Outages: every wait on Postgres or Redis is bounded (docs/api.md, "When a service is down").
    db_acquire_timeout_s: float = 10.0  # waiting for a pooled connection (and to return one)
    db_connect_timeout_s: float = 5.0
    db_command_timeout_s: float = 15.0  # client side: a query's reply, then the connection is cut
    db_statement_timeout_ms: int = 10_000  # server side, per statement
    db_lock_timeout_ms: int = 5_000
    db_idle_in_transaction_timeout_ms: int = 30_000
    readyz_timeout_s: float = 1.0  # /readyz answers 503 after this, whatever hangs
    redis_socket_timeout_s: float = 5.0
    redis_connect_timeout_s: float = 2.0
    redis_retries: int = 6  # per command, on a lost connection or a timeout, with backoff
    redis_retry_base_s: float = 0.05
    redis_retry_cap_s: float = 1.0
    redis_health_check_interval_s: int = 5  # PING a pooled connection idle this long before use
    redis_max_connections: int = 512
    outage_log_interval_s: float = 10.0  # one log line per failure kind per interval

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
