"""Quick games' rules: paytable RTPs (exact and by 1,000,000 seeded fair draws), fairness."""

from __future__ import annotations

import hashlib
import hmac
from collections import Counter
from fractions import Fraction

import pytest

from rooms.games.quick import color, fair, football, pick3, wheel
from rooms.games.quick.games import RANDOM_GAMES, play
from rooms.games.quick.outcome import InvalidChoice
from rooms.games.quick.paytables import STATED_RTP

DRAWS = 1_000_000
SEED = hashlib.sha256(b"matchpot-rtp-simulation").digest()


def simulate(n: int) -> Counter[int]:
    """Tally 1M fair draws in [0, n) under one fixed seed and client seed."""
    tally: Counter[int] = Counter()
    for nonce in range(DRAWS):
        tally[fair.draw_int(fair.DrawInput(SEED, "sim", nonce), n)] += 1
    return tally


def empirical_rtp(tally: Counter[int], resolve: object, choice: dict[str, str]) -> Fraction:
    total = Fraction(0)
    for draw, count in tally.items():
        total += resolve(draw, choice).multiplier * count  # type: ignore[operator]
    return total / DRAWS


def test_exact_rtp_matches_stated_paytable() -> None:
    assert wheel.expected_return() == STATED_RTP["wheel"]
    for c in ("red", "blue", "gold"):
        assert color.expected_return(c) == STATED_RTP[f"color:{c}"]
    for digits in ("472", "332", "777", "000", "019"):
        assert pick3.expected_return(digits) == STATED_RTP["pick3"]
    assert all(rtp < 1 for rtp in STATED_RTP.values())


def test_wheel_rtp_by_million_draws() -> None:
    tally = simulate(wheel.outcome_space())
    rtp = empirical_rtp(tally, wheel.resolve, {})
    assert abs(float(rtp) - float(wheel.expected_return())) < 0.01


def test_color_rtp_by_million_draws() -> None:
    tally = simulate(color.outcome_space())
    for c in ("red", "blue", "gold"):
        rtp = empirical_rtp(tally, color.resolve, {"colour": c})
        assert abs(float(rtp) - float(color.expected_return(c))) < 0.015, c


def test_pick3_rtp_by_million_draws() -> None:
    tally = simulate(pick3.outcome_space())
    assert len(tally) == 1000  # every number can come up
    for digits in ("472", "332"):
        rtp = empirical_rtp(tally, pick3.resolve, {"digits": digits})
        assert abs(float(rtp) - float(pick3.expected_return(digits))) < 0.09, digits


def test_draw_is_the_documented_hmac_word_without_bias() -> None:
    seed = bytes(range(32))
    d = hmac.new(seed, b"player:7", hashlib.sha256).digest()
    first_word = int.from_bytes(d[:4], "big")
    n = 1000
    limit = 2**32 - (2**32 % n)
    assert first_word < limit  # for this seed the first word is accepted
    assert fair.draw_int(fair.DrawInput(seed, "player", 7), n) == first_word % n
    # a space of 3 leaves 2**32 % 3 == 1 word value to reject: 0xFFFFFFFF is never used
    assert 2**32 - (2**32 % 3) == 0xFFFFFFFF


def test_draws_are_deterministic_and_depend_on_every_input() -> None:
    base = fair.DrawInput(b"s" * 32, "c", 1)
    same = [play("pick3", base, {"digits": "123"}).result for _ in range(3)]
    assert same[0] == same[1] == same[2]
    variants = {
        fair.draw_int(base, 1000),
        fair.draw_int(fair.DrawInput(b"t" * 32, "c", 1), 1000),
        fair.draw_int(fair.DrawInput(b"s" * 32, "d", 1), 1000),
        fair.draw_int(fair.DrawInput(b"s" * 32, "c", 2), 1000),
    }
    assert len(variants) >= 3


def test_seed_commitment_verifies_only_the_committed_seed() -> None:
    seed = fair.new_server_seed(lambda n: b"\x01" * n)
    committed = fair.seed_hash(seed)
    assert committed == hashlib.sha256(b"\x01" * 32).hexdigest()
    assert fair.verify_seed(seed, committed)
    assert not fair.verify_seed(b"\x02" * 32, committed)


@pytest.mark.parametrize("bad", ["", "a:b", "x" * 65, "tab\there"])
def test_bad_client_seed_is_refused(bad: str) -> None:
    with pytest.raises(fair.FairnessError):
        fair.check_client_seed(bad)


@pytest.mark.parametrize(
    ("game", "choice"),
    [("wheel", {"colour": "red"}), ("color", {"colour": "purple"}), ("color", {}),
     ("pick3", {"digits": "12"}), ("pick3", {"digits": "12a"}), ("pick3", {"digits": [1, 2, 10]})],
)
def test_invalid_choices_are_refused(game: str, choice: dict[str, object]) -> None:
    with pytest.raises(InvalidChoice):
        RANDOM_GAMES[game].normalise_choice(choice)


def test_pick3_prizes() -> None:
    assert pick3.resolve(472, {"digits": "472"}).multiplier == 500
    assert pick3.resolve(274, {"digits": "472"}).multiplier == 80
    assert pick3.resolve(323, {"digits": "332"}).multiplier == 200
    assert pick3.resolve(777, {"digits": "777"}).multiplier == 900
    assert pick3.resolve(473, {"digits": "472"}).multiplier == 0


def test_payout_rounds_down() -> None:
    out = wheel.resolve(54, {})  # first slot after the 0x segment: 1.2x
    assert out.result == {"segment": "1.2x"}
    assert out.payout_minor(1001) == 1201  # 1201.2 rounded down


@pytest.mark.parametrize(
    ("text", "stake", "payout"),
    [("+150", 10_000, 25_000), ("-200", 10_000, 15_000), ("5/2", 1_000, 3_500),
     ("-300", 1_000, 1_333), ("+100", 1, 2), ("-110", 100, 190)],
)
def test_football_odds_payouts(text: str, stake: int, payout: int) -> None:
    assert football.win_payout_minor(stake, football.parse_odds(text)) == payout


@pytest.mark.parametrize("text", ["150", "+50", "-99", "0/1", "3/0", "abc", "+99999999"])
def test_football_bad_odds_are_refused(text: str) -> None:
    with pytest.raises(football.InvalidOdds):
        football.parse_odds(text)


def test_football_settlement_pays_winners_and_house_keeps_the_rest() -> None:
    odds = {"yes": football.parse_odds("+150"), "no": football.parse_odds("-200")}
    stakes = [football.Stake("a", "u1", "yes", 1_000), football.Stake("b", "u2", "no", 3_001),
              football.Stake("c", "u3", "no", 999)]
    s = football.settle(stakes, "no", odds)
    assert s.payouts_minor == {"a": 0, "b": 4_501, "c": 1_498}
    assert s.house_net_minor == 5_000 - 5_999
    assert football.implied_rtp(odds) == 1 / (Fraction(2, 5) + Fraction(2, 3))
