"""Football Yes/No: fixed odds set by an admin, settled by the admin (or voided).

Odds are American (+150: profit 150 per 100 staked; -200: stake 200 to profit
100) or fractional ("5/2": profit 5 per 2 staked). A winner gets their stake plus
`floor(stake * profit_ratio)`; the rounding remainder stays with the house.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction
from typing import Literal

from ledger import payout_at_odds

Side = Literal["yes", "no"]
SIDES: tuple[Side, ...] = ("yes", "no")
MAX_PROFIT_RATIO = Fraction(1000)  # a bound on odds: at most 1000 profit per 1 staked
_AMERICAN = re.compile(r"^([+-])(\d{3,7})$")
_FRACTIONAL = re.compile(r"^(\d{1,7})/(\d{1,7})$")


class InvalidOdds(ValueError):
    code = "invalid_odds"


@dataclass(frozen=True, slots=True)
class Odds:
    """Odds as written by the admin plus the exact profit per unit staked."""

    text: str
    profit_ratio: Fraction


def parse_odds(text: str) -> Odds:
    """Parse '+150', '-200' or '5/2' into an exact profit ratio; refuse anything else."""
    t = text.strip().replace(" ", "")
    if m := _AMERICAN.match(t):
        value = int(m.group(2))
        if value < 100:
            raise InvalidOdds("American odds must be at least 100 in size, e.g. +150 or -200.")
        ratio = Fraction(value, 100) if m.group(1) == "+" else Fraction(100, value)
    elif m := _FRACTIONAL.match(t):
        num, den = int(m.group(1)), int(m.group(2))
        if num == 0 or den == 0:
            raise InvalidOdds("Fractional odds need two positive numbers, e.g. 5/2.")
        ratio = Fraction(num, den)
    else:
        raise InvalidOdds("Odds must be American (+150, -200) or fractional (5/2).")
    if ratio > MAX_PROFIT_RATIO:
        raise InvalidOdds("Those odds are beyond the allowed maximum.")
    return Odds(t, ratio)


def normalise_side(raw: object) -> Side:
    if isinstance(raw, str):
        s = raw.strip().lower()
        if s == "yes":
            return "yes"
        if s == "no":
            return "no"
    raise ValueError("Pick yes or no.")


def win_payout_minor(stake_minor: int, odds: Odds) -> int:
    """What a winning stake returns in total: stake + profit rounded down."""
    assert stake_minor > 0
    r = odds.profit_ratio
    return stake_minor + payout_at_odds(stake_minor, r)


@dataclass(frozen=True, slots=True)
class Stake:
    bet_id: str
    user_id: str
    side: Side
    stake_minor: int


@dataclass(frozen=True, slots=True)
class Settlement:
    """Per bet, the total it returns (0 for a loser); plus what the house nets."""

    payouts_minor: dict[str, int]
    staked_minor: int
    paid_minor: int

    @property
    def house_net_minor(self) -> int:
        return self.staked_minor - self.paid_minor


def settle(stakes: list[Stake], result: Side, odds: dict[Side, Odds]) -> Settlement:
    """Winners on `result` get stake + profit; losers nothing. Pure and order-independent."""
    payouts: dict[str, int] = {}
    for s in stakes:
        assert s.stake_minor > 0
        payouts[s.bet_id] = win_payout_minor(s.stake_minor, odds[result]) if s.side == result else 0
    staked = sum(s.stake_minor for s in stakes)
    paid = sum(payouts.values())
    return Settlement(payouts, staked, paid)


def implied_rtp(odds: dict[Side, Odds]) -> Fraction:
    """The return to player if the book is balanced by implied probability (1/total overround)."""
    overround = sum((1 / (1 + odds[s].profit_ratio) for s in SIDES), Fraction(0))
    return 1 / overround
