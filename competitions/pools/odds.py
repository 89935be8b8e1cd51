"""American odds: what a bet returns, in whole credits, with the one rounding rule.

Profit on a win is stake x odds/100 for positive odds (+150: 100 wins 150) and
stake x 100/|odds| for negative odds (-110: 110 wins 100). The return of a winning bet is
stake + profit; the profit is computed exactly as a Fraction and rounded down to whole
credits by `ledger.payout_at_odds` (towards the house, like every share in Matchpot).
"""

from __future__ import annotations

from fractions import Fraction

from ledger import payout_at_odds

MIN_ABS_ODDS = 100
MAX_ABS_ODDS = 100_000  # +100000: a 1000-to-1 long shot; bounds every return


class OddsError(ValueError):
    """Odds that are not American odds (|odds| >= 100)."""


def check_odds(odds: int) -> int:
    """`odds` if it is valid American odds; OddsError otherwise."""
    if not isinstance(odds, int) or isinstance(odds, bool):
        raise OddsError("odds must be a whole number")
    if not MIN_ABS_ODDS <= abs(odds) <= MAX_ABS_ODDS:
        raise OddsError(f"American odds are {MIN_ABS_ODDS}..{MAX_ABS_ODDS} or the negative")
    return odds


def profit_ratio(odds: int) -> Fraction:
    """Profit per credit staked, exactly: +150 -> 3/2, -110 -> 10/11."""
    check_odds(odds)
    return Fraction(odds, 100) if odds > 0 else Fraction(100, -odds)


def profit(stake: int, odds: int) -> int:
    """Whole credits of profit a win pays, rounded down."""
    return payout_at_odds(stake, profit_ratio(odds))


def potential_return(stake: int, odds: int) -> int:
    """What a winning bet returns: stake + profit (whole credits, the profit rounded down)."""
    assert isinstance(stake, int) and stake > 0, stake
    return stake + profit(stake, odds)
