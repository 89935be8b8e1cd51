"""Lucky Wheel: one draw lands on a weighted segment; its multiplier is the return."""

from __future__ import annotations

from fractions import Fraction
from typing import Any

from rooms.games.quick.outcome import InvalidChoice, Outcome
from rooms.games.quick.paytables import WHEEL, WheelSegment


def outcome_space(table: tuple[WheelSegment, ...] = WHEEL) -> int:
    """The wheel has sum(weights) equally likely slots."""
    total = sum(s.weight for s in table)
    assert total > 0 and all(s.weight > 0 for s in table)
    return total


def normalise_choice(choice: dict[str, Any]) -> dict[str, Any]:
    """The wheel takes no pick; anything given is refused so a typo never becomes a bet."""
    if choice:
        raise InvalidChoice("Lucky Wheel takes no choice.")
    return {}


def resolve(draw: int, choice: dict[str, Any], table: tuple[WheelSegment, ...] = WHEEL) -> Outcome:
    """Map a draw in [0, outcome_space) to the segment covering it (cumulative weights)."""
    assert 0 <= draw < outcome_space(table)
    acc = 0
    for seg in table:
        acc += seg.weight
        if draw < acc:
            return Outcome({"segment": seg.label}, seg.multiplier,
                           f"The wheel stopped on {seg.label}.", draw)
    raise AssertionError("unreachable: draw beyond the wheel")


def expected_return(table: tuple[WheelSegment, ...] = WHEEL) -> Fraction:
    """The exact RTP per unit staked: sum(weight * multiplier) / sum(weight)."""
    total = sum((Fraction(s.weight) * s.multiplier for s in table), Fraction(0))
    return total / outcome_space(table)
