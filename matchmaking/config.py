"""Matchmaking knobs and the rating-window rule they define."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from matchmaking.keys import GAME_RE

MAX_RATING = 1_000_000
MAX_SCAN = 1_000


def _default_tiers() -> Mapping[str, tuple[int, ...]]:
    return MappingProxyType({"KES": (5_000, 10_000, 50_000)})


@dataclass(frozen=True, slots=True)
class MatchConfig:
    """Everything a Matchmaker needs to decide, with units in the names.

    The window is the largest rating gap a ticket accepts. It starts at
    `window_start` and grows linearly to `window_max` over `window_grow_s`, so
    a lonely player is matched eventually instead of waiting for a twin.
    """

    games: frozenset[str] = frozenset({"quiz"})
    stake_tiers_minor: Mapping[str, tuple[int, ...]] = field(default_factory=_default_tiers)
    window_start: int = 50
    window_max: int = 400
    window_grow_s: float = 60.0
    max_wait_s: int = 1800
    timeout_bonus_bp: int = 500
    hold_margin_s: int = 900  # the hold outlives the longest wait by this much: time to play
    max_queue_len: int = 10_000
    scan_candidates: int = 32  # opponents looked at per side of one ticket's window
    scan_tickets: int = 64  # waiting tickets examined as "A" per script call
    avoid_recent_s: int = 0  # 0: may meet the same opponent again at once
    max_recent: int = 32
    seat_ttl_s: int = 60
    claim_grace_s: int = 60  # a join must hold its stake within this; see docs/matchmaking.md
    lease_s: int = 30  # a pairing or refund not acknowledged by then is redelivered

    def __post_init__(self) -> None:
        assert self.games, "at least one game"
        assert all(GAME_RE.match(g) for g in self.games), self.games
        for currency, tiers in self.stake_tiers_minor.items():
            assert len(currency) == 3 and currency.isalpha() and currency.isupper(), currency
            assert all(isinstance(t, int) and t > 0 for t in tiers), tiers
        assert 0 <= self.window_start <= self.window_max <= MAX_RATING
        assert self.window_grow_s > 0
        assert self.max_wait_s > 0 and self.hold_margin_s >= 0
        assert 0 <= self.timeout_bonus_bp <= 10_000
        assert 2 <= self.max_queue_len <= 1_000_000
        assert 1 <= self.scan_candidates <= MAX_SCAN and 1 <= self.scan_tickets <= MAX_SCAN
        assert self.avoid_recent_s >= 0 and 1 <= self.max_recent <= 1_000
        assert self.seat_ttl_s > 0 and self.claim_grace_s > 0 and self.lease_s > 0

    @property
    def window_grow_ms(self) -> int:
        return max(1, round(self.window_grow_s * 1000))

    @property
    def max_wait_ms(self) -> int:
        return self.max_wait_s * 1000

    @property
    def claim_grace_ms(self) -> int:
        return self.claim_grace_s * 1000

    @property
    def seat_ttl_ms(self) -> int:
        return self.seat_ttl_s * 1000

    @property
    def hold_timeout_s(self) -> int:
        return self.max_wait_s + self.hold_margin_s

    def window_for(self, waited_ms: int) -> int:
        """The rating gap a ticket accepts after waiting `waited_ms` (same rule as the Lua)."""
        waited_ms = min(max(waited_ms, 0), self.window_grow_ms)
        grown = (self.window_max - self.window_start) * waited_ms // self.window_grow_ms
        return self.window_start + grown

    def offers(self, currency: str, stake_minor: int) -> bool:
        return stake_minor in self.stake_tiers_minor.get(currency, ())
