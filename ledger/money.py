"""The one rounding rule: integer minor units; a share rounds down, the house keeps the rest.

Every helper here takes and returns `int` minor units (never float) and rounds towards the
house, so the sums a caller books always add up to what it split: nothing is created, and
the remainder has a home (the `house` account). Rates are basis points (1/10_000) or exact
`Fraction`s; both go through the same floor division.
"""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction

BPS_PER_UNIT = 10_000  # basis points in a whole: 250 bps = 2.5 %


def _check_amount(amount_minor: int) -> None:
    assert isinstance(amount_minor, int) and not isinstance(amount_minor, bool), amount_minor
    assert amount_minor >= 0, amount_minor


def _check_bps(bps: int) -> None:
    assert isinstance(bps, int) and not isinstance(bps, bool), bps
    assert 0 <= bps <= BPS_PER_UNIT, bps


def bps_down(amount_minor: int, bps: int) -> int:
    """`bps` basis points of `amount_minor`, rounded down (e.g. a timeout bonus of a stake)."""
    _check_amount(amount_minor)
    _check_bps(bps)
    return amount_minor * bps // BPS_PER_UNIT


def split_pot(pot_minor: int, rake_bps: int) -> tuple[int, int]:
    """(payout_minor, rake_minor) of a pot: the payout rounds down, the rake is the rest.

    So payout + rake == pot, and the house (which takes the rake) gets any remainder.
    """
    _check_amount(pot_minor)
    _check_bps(rake_bps)
    payout_minor = pot_minor * (BPS_PER_UNIT - rake_bps) // BPS_PER_UNIT
    return payout_minor, pot_minor - payout_minor


def payout_at_odds(stake_minor: int, multiplier: Fraction) -> int:
    """`stake_minor * multiplier`, rounded down: what a bet at exact odds pays.

    `multiplier` is whatever the game defines (a total return incl. stake, or a profit
    ratio); the remainder of the rounding stays with the house.
    """
    _check_amount(stake_minor)
    assert isinstance(multiplier, Fraction) and multiplier >= 0, multiplier
    return stake_minor * multiplier.numerator // multiplier.denominator


def split_shares(total_minor: int, weights: Sequence[int]) -> tuple[list[int], int]:
    """Split `total_minor` by integer weights, each share rounded down.

    Returns (shares, remainder); the remainder (< len(weights) minor units) goes to the house.
    """
    _check_amount(total_minor)
    assert weights and all(isinstance(w, int) and w >= 0 for w in weights)
    weight_sum = sum(weights)
    assert weight_sum > 0
    shares = [total_minor * w // weight_sum for w in weights]
    remainder = total_minor - sum(shares)
    assert 0 <= remainder < len(weights)
    return shares, remainder
