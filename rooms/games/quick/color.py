"""Color Game: pick a colour; a weighted draw picks one; a hit pays that colour's odds."""

from __future__ import annotations

from fractions import Fraction
from typing import Any

from rooms.games.quick.outcome import InvalidChoice, Outcome
from rooms.games.quick.paytables import COLOURS, ColourOdds


def outcome_space(table: tuple[ColourOdds, ...] = COLOURS) -> int:
    total = sum(c.weight for c in table)
    assert total > 0 and all(c.weight > 0 for c in table)
    return total


def normalise_choice(
    choice: dict[str, Any], table: tuple[ColourOdds, ...] = COLOURS
) -> dict[str, Any]:
    """Accept {"colour": name} (or "color"), case-insensitive; refuse anything else."""
    raw = choice.get("colour", choice.get("color"))
    names = [c.colour for c in table]
    if not isinstance(raw, str) or raw.strip().lower() not in names or len(choice) != 1:
        raise InvalidChoice(f"Pick one colour: {', '.join(names)}.")
    return {"colour": raw.strip().lower()}


def drawn_colour(draw: int, table: tuple[ColourOdds, ...] = COLOURS) -> ColourOdds:
    assert 0 <= draw < outcome_space(table)
    acc = 0
    for c in table:
        acc += c.weight
        if draw < acc:
            return c
    raise AssertionError("unreachable: draw beyond the colours")


def resolve(draw: int, choice: dict[str, Any], table: tuple[ColourOdds, ...] = COLOURS) -> Outcome:
    picked = normalise_choice(choice, table)["colour"]
    hit = drawn_colour(draw, table)
    if hit.colour == picked:
        return Outcome({"colour": hit.colour, "win": True}, hit.multiplier,
                       f"{hit.colour.title()} came up: your pick won.", draw)
    return Outcome({"colour": hit.colour, "win": False}, Fraction(0),
                   f"{hit.colour.title()} came up; you picked {picked}.", draw)


def expected_return(colour: str, table: tuple[ColourOdds, ...] = COLOURS) -> Fraction:
    """Exact RTP of a bet on `colour`: P(colour) * multiplier."""
    odds = next(c for c in table if c.colour == colour)
    return Fraction(odds.weight, outcome_space(table)) * odds.multiplier
