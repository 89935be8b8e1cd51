"""The rounding rule: integer minor units, remainders to the house."""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ledger import bps_down, payout_at_odds, split_pot, split_shares


def test_pot_payout_rounds_down_and_the_rake_takes_the_rest() -> None:
    assert split_pot(1_001, 1_000) == (900, 101)
    assert split_pot(1_000, 1_000) == (900, 100)
    assert split_pot(0, 1_000) == (0, 0)
    assert split_pot(999, 0) == (999, 0)
    assert split_pot(999, 10_000) == (0, 999)


def test_bps_of_an_amount_rounds_down() -> None:
    assert bps_down(10_000, 250) == 250
    assert bps_down(999, 250) == 24  # 24.975 -> 24: the house keeps the fraction
    assert bps_down(0, 10_000) == 0


def test_payout_at_odds_rounds_down() -> None:
    assert payout_at_odds(100, Fraction(21, 10)) == 210
    assert payout_at_odds(7, Fraction(6, 5)) == 8  # 8.4 -> 8
    assert payout_at_odds(3, Fraction(0)) == 0


def test_shares_round_down_and_remainder_is_small() -> None:
    assert split_shares(1_000, [1, 1, 1]) == ([333, 333, 333], 1)
    assert split_shares(10, [3, 1]) == ([7, 2], 1)


@pytest.mark.parametrize("bad", [1.5, -1, True])
def test_amounts_must_be_non_negative_integers(bad: object) -> None:
    with pytest.raises(AssertionError):
        split_pot(bad, 100)  # type: ignore[arg-type]
    with pytest.raises(AssertionError):
        bps_down(bad, 100)  # type: ignore[arg-type]


def test_rates_are_bounded_basis_points() -> None:
    for bad in (-1, 10_001):
        with pytest.raises(AssertionError):
            split_pot(100, bad)
    with pytest.raises(AssertionError):
        payout_at_odds(100, 1.5)  # type: ignore[arg-type]


@given(st.integers(0, 10**15), st.integers(0, 10_000))
def test_pot_split_conserves_every_unit(pot: int, rake_bps: int) -> None:
    payout, rake = split_pot(pot, rake_bps)
    assert payout + rake == pot and payout >= 0
    # Towards the house: the payout never exceeds the exact share, the rake never falls short.
    assert payout <= Fraction(pot * (10_000 - rake_bps), 10_000) < payout + 1
    assert rake >= Fraction(pot * rake_bps, 10_000)


@given(st.integers(0, 10**12), st.fractions(0, 1000, max_denominator=1000))
def test_odds_payout_is_the_floor(stake: int, multiplier: Fraction) -> None:
    paid = payout_at_odds(stake, multiplier)
    assert paid <= stake * multiplier < paid + 1


@given(st.integers(0, 10**12), st.lists(st.integers(1, 1000), min_size=1, max_size=50))
def test_shares_conserve_every_unit(total: int, weights: list[int]) -> None:
    shares, remainder = split_shares(total, weights)
    assert sum(shares) + remainder == total and 0 <= remainder < len(weights)
