"""What a quick-game draw decided, independent of money."""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from ledger import payout_at_odds


class InvalidChoice(ValueError):
    """The player's pick is not a valid bet for this game; `code` is stable."""

    code = "invalid_choice"


@dataclass(frozen=True, slots=True)
class Outcome:
    """The result of one draw: a description, the win multiplier and the raw draw."""

    result: dict[str, Any]
    multiplier: Fraction
    text: str
    draw: int = field(default=0)

    def payout_minor(self, stake_minor: int) -> int:
        """Stake times multiplier, rounded down: the remainder stays with the house."""
        assert stake_minor > 0
        assert self.multiplier >= 0
        return payout_at_odds(stake_minor, self.multiplier)


def fmt_multiplier(m: Fraction) -> str:
    if m.denominator == 1:
        return f"{m.numerator}x"
    return f"{float(m):g}x"
