"""The one rounding rule: integer minor units; shares round down, remainders go to the house."""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction


def split_rake(pot_minor: int, rake: Fraction) -> tuple[int, int]:
    """(rake_minor, prize_minor) of a pot: the rake rounds up, so the house gets any remainder."""
    assert pot_minor >= 0 and 0 <= rake <= 1
    rake_minor = -((-pot_minor * rake.numerator) // rake.denominator)  # ceiling
    return rake_minor, pot_minor - rake_minor


def split_shares(total_minor: int, weights: Sequence[int]) -> tuple[list[int], int]:
    """Split `total_minor` by integer weights, each share rounded down.

    Returns (shares, remainder); the remainder (< len(weights) minor units) goes to the house.
    """
    assert total_minor >= 0 and weights and all(w >= 0 for w in weights)
    weight_sum = sum(weights)
    assert weight_sum > 0
    shares = [total_minor * w // weight_sum for w in weights]
    remainder = total_minor - sum(shares)
    assert 0 <= remainder < len(weights)
    return shares, remainder


BPS_PER_UNIT = 10_000


def split_pot(pot_minor: int, rake_bps: int) -> tuple[int, int]:
    """(payout_minor, rake_minor) of a pot: the payout rounds down, the house gets the rest.

    The same rule as `split_rake`, in basis points, so payout + rake == pot always.
    """
    assert pot_minor >= 0 and 0 <= rake_bps <= BPS_PER_UNIT
    payout_minor = pot_minor * (BPS_PER_UNIT - rake_bps) // BPS_PER_UNIT
    return payout_minor, pot_minor - payout_minor


def bps_down(amount_minor: int, bps: int) -> int:
    """`bps` basis points of an amount, rounded down (towards the house): bonuses, shares."""
    assert amount_minor >= 0 and 0 <= bps <= BPS_PER_UNIT
    return amount_minor * bps // BPS_PER_UNIT


def times_down(amount_minor: int, ratio: Fraction) -> int:
    """An amount times an exact ratio (a multiplier, odds), rounded down towards the house."""
    assert amount_minor >= 0 and ratio >= 0
    return amount_minor * ratio.numerator // ratio.denominator
