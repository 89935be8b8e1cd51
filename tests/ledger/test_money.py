"""The rounding rule: integer minor units, remainders to the house."""

from __future__ import annotations

from fractions import Fraction

from hypothesis import given
from hypothesis import strategies as st

from ledger import split_rake, split_shares


def test_rake_rounds_towards_the_house() -> None:
    assert split_rake(1_001, Fraction(1, 10)) == (101, 900)
    assert split_rake(1_000, Fraction(1, 10)) == (100, 900)
    assert split_rake(0, Fraction(1, 10)) == (0, 0)


def test_shares_round_down_and_remainder_is_small() -> None:
    assert split_shares(1_000, [1, 1, 1]) == ([333, 333, 333], 1)
    assert split_shares(10, [3, 1]) == ([7, 2], 1)


@given(st.integers(0, 10**12), st.fractions(0, 1, max_denominator=1000))
def test_rake_conserves_every_unit(pot: int, rake: Fraction) -> None:
    house, prize = split_rake(pot, rake)
    assert house + prize == pot and house >= pot * rake and prize >= 0


@given(st.integers(0, 10**12), st.lists(st.integers(1, 1000), min_size=1, max_size=50))
def test_shares_conserve_every_unit(total: int, weights: list[int]) -> None:
    shares, remainder = split_shares(total, weights)
    assert sum(shares) + remainder == total and 0 <= remainder < len(weights)
