"""Pool settings: environment variables `MATCHPOT_POOLS_*` (docs/pools.md, "Settings")."""

from __future__ import annotations

import json
from typing import Literal

from pydantic import field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from competitions.pools.ranking import PrizeLine, check_table

DEFAULT_PRIZES = json.dumps([{"place": 1, "share_bps": 5000}, {"place": 2, "share_bps": 3000},
                             {"place": 3, "share_bps": 2000}])
MAX_POOL_SIZE = 1000  # the board's score packs the seat in 10 bits (board.py)


class PoolsSettings(BaseSettings):
    """Everything an operator tunes about weekly pools; amounts of pool credits are whole credits,
    prices and prizes are minor units of the wallet currency (or of the Stripe currency)."""

    model_config = SettingsConfigDict(env_prefix="MATCHPOT_POOLS_", extra="ignore", frozen=True)

    enabled: bool = True
    pool_max_size: int = 100
    credits_per_member: int = 1000
    buyback_credits: int = 1000
    bet_min: int = 10
    bet_max: int = 1000
    # payments: "wallet" (paid from the wallet, which M-Pesa STK or any deposit funds), "stripe"
    providers: tuple[Literal["wallet", "stripe"], ...] = ("wallet", "stripe")
    pass_price_minor: int = 0  # wallet currency; 0: the pass is free from the wallet
    buyback_price_minor: int = 0
    stripe_secret_key: str = ""
    stripe_webhook_secret: str = ""
    stripe_api_base: str = ""  # empty: Stripe's own API; tests point it at a loopback stand-in
    stripe_currency: str = "usd"
    stripe_pass_amount: int = 500  # minor units of stripe_currency
    stripe_buyback_amount: int = 500
    stripe_success_url: str = "https://example.invalid/pools?paid=1"
    stripe_cancel_url: str = "https://example.invalid/pools?cancelled=1"
    # prizes (wallet currency)
    prize_table: str = DEFAULT_PRIZES  # JSON list of {"place", "amount_minor"?, "share_bps"?}
    prize_fund_per_member_minor: int = 0
    prize_check_above_minor: int = 1_000_000  # larger prizes wait for an admin identity check
    # jobs
    job_interval_s: float = 30.0
    settle_chunk_members: int = 5000
    feed_file: str = ""
    feed_url: str = ""  # e.g. https://api.the-odds-api.com/v4/sports/soccer_epl/odds
    feed_api_key: str = ""
    feed_bookmaker: str = "draftkings"
    feed_interval_s: float = 600.0

    @field_validator("pool_max_size")
    @classmethod
    def _size(cls, v: int) -> int:
        assert 1 <= v <= MAX_POOL_SIZE, f"pool_max_size is 1..{MAX_POOL_SIZE}"
        return v

    @field_validator("settle_chunk_members")
    @classmethod
    def _chunk(cls, v: int) -> int:
        assert 1 <= v <= 10_000, "settle_chunk_members is 1..10000 (one ledger apply)"
        return v

    @field_validator("prize_table")
    @classmethod
    def _prizes(cls, v: str) -> str:
        check_table(parse_prizes(v))
        return v

    def prizes(self) -> list[PrizeLine]:
        return parse_prizes(self.prize_table)


def parse_prizes(text: str) -> list[PrizeLine]:
    raw = json.loads(text)
    assert isinstance(raw, list)
    return [PrizeLine(int(x["place"]), int(x.get("amount_minor", 0)), int(x.get("share_bps", 0)))
            for x in raw]
