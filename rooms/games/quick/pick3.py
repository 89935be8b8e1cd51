"""Pick 3: choose three digits; the draw is 000-999. Exact order wins the big prize,
the same digits in another order win the any-order prize."""

from __future__ import annotations

from fractions import Fraction
from itertools import permutations
from typing import Any

from rooms.games.quick.outcome import InvalidChoice, Outcome
from rooms.games.quick.paytables import PICK3, Pick3Prizes

OUTCOMES = 1000


def outcome_space() -> int:
    return OUTCOMES


def normalise_choice(choice: dict[str, Any]) -> dict[str, Any]:
    """Accept {"digits": "472"} (string of three digits) or a list of three ints 0-9."""
    raw = choice.get("digits")
    if isinstance(raw, list) and len(raw) == 3 and all(type(d) is int and 0 <= d <= 9 for d in raw):
        raw = "".join(str(d) for d in raw)
    if (
        not isinstance(raw, str) or len(raw.strip()) != 3 or not raw.strip().isdigit()
        or len(choice) != 1
    ):
        raise InvalidChoice("Pick three digits, e.g. 472.")
    digits = raw.strip()
    assert all(c in "0123456789" for c in digits)
    return {"digits": digits}


def orderings(digits: str) -> int:
    """6 for three different digits, 3 for a pair, 1 for a triple."""
    return len(set(permutations(digits)))


def resolve(draw: int, choice: dict[str, Any], table: Pick3Prizes = PICK3) -> Outcome:
    assert 0 <= draw < OUTCOMES
    picked = normalise_choice(choice)["digits"]
    drawn = f"{draw:03d}"
    ways = orderings(picked)
    if drawn == picked:
        return Outcome({"drawn": drawn, "prize": "exact"}, table.exact[ways],
                       f"Drawn {drawn}: exact match!", draw)
    if sorted(drawn) == sorted(picked) and table.any_order[ways] > 0:
        return Outcome({"drawn": drawn, "prize": "any_order"}, table.any_order[ways],
                       f"Drawn {drawn}: your digits in another order.", draw)
    return Outcome({"drawn": drawn, "prize": None}, Fraction(0),
                   f"Drawn {drawn}; you picked {picked}.", draw)


def expected_return(digits: str, table: Pick3Prizes = PICK3) -> Fraction:
    """Exact RTP of a pick: one exact ordering plus (ways - 1) other orderings, out of 1000."""
    ways = orderings(digits)
    return (table.exact[ways] + (ways - 1) * table.any_order[ways]) / OUTCOMES
