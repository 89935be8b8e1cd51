"""The quick games' paytables: configuration, not code. RTPs are stated in docs/games.md.

Multipliers are total returns per unit staked (stake included), as exact Fractions.
A payout is `floor(stake_minor * multiplier)`; the remainder stays with the house.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction


@dataclass(frozen=True, slots=True)
class WheelSegment:
    label: str
    weight: int
    multiplier: Fraction


@dataclass(frozen=True, slots=True)
class ColourOdds:
    colour: str
    weight: int
    multiplier: Fraction


@dataclass(frozen=True, slots=True)
class Pick3Prizes:
    """Multipliers by how many distinct orderings the picked digits have (6, 3 or 1)."""

    exact: dict[int, Fraction]
    any_order: dict[int, Fraction]


WHEEL: tuple[WheelSegment, ...] = (
    WheelSegment("0x", 54, Fraction(0)),
    WheelSegment("1.2x", 20, Fraction(6, 5)),
    WheelSegment("2x", 15, Fraction(2)),
    WheelSegment("3x", 7, Fraction(3)),
    WheelSegment("5x", 4, Fraction(5)),
)

COLOURS: tuple[ColourOdds, ...] = (
    ColourOdds("red", 9, Fraction(21, 10)),
    ColourOdds("blue", 9, Fraction(21, 10)),
    ColourOdds("gold", 2, Fraction(19, 2)),
)

PICK3 = Pick3Prizes(
    exact={6: Fraction(500), 3: Fraction(500), 1: Fraction(900)},
    any_order={6: Fraction(80), 3: Fraction(200), 1: Fraction(0)},
)

# Stated return to player, per unit staked before rounding down (checked by tests).
STATED_RTP: dict[str, Fraction] = {
    "wheel": Fraction(95, 100),
    "color:red": Fraction(189, 200),
    "color:blue": Fraction(189, 200),
    "color:gold": Fraction(95, 100),
    "pick3": Fraction(90, 100),
}
