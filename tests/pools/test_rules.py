"""The pure pool rules: weeks across DST, the draw, American odds, grading, ranking, prizes."""

from __future__ import annotations

import secrets
from collections import Counter
from datetime import UTC, date, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from competitions.pools import grading, grouping, odds, ranking, weeks
from competitions.pools.grading import EventStatus, Grade, Market, Result, Selection, Side


def ms(text: str) -> int:
    return int(datetime.fromisoformat(text).astimezone(UTC).timestamp() * 1000)


# ---- weeks ---------------------------------------------------------------------------

def test_week_runs_monday_midnight_new_york_to_the_next() -> None:
    w = weeks.week_of(ms("2026-11-18T12:00:00-05:00"))
    assert w.monday == date(2026, 11, 16)
    assert w.start_ms == ms("2026-11-16T00:00:00-05:00")
    assert w.end_ms == ms("2026-11-23T00:00:00-05:00")
    assert w.id == "2026-W47" and w.currency == "POOL_2026W47"
    assert weeks.parse_week_id(w.id) == w
    # one millisecond before Monday 00:00 New York is still last week
    assert weeks.week_of(w.start_ms - 1) == w.previous()
    assert weeks.week_of(w.start_ms) == w
    assert weeks.week_of(w.end_ms) == w.next()


def test_week_across_the_spring_change_is_167_hours() -> None:
    # 2026-03-08 02:00 EST -> 03:00 EDT: the week of Monday 2026-03-02 is an hour short.
    w = weeks.week_of(ms("2026-03-04T10:00:00-05:00"))
    assert w.start_ms == ms("2026-03-02T00:00:00-05:00")
    assert w.end_ms == ms("2026-03-09T00:00:00-04:00")
    assert w.end_ms - w.start_ms == 167 * 3600 * 1000
    assert weeks.week_of(ms("2026-03-08T23:59:59-04:00")) == w


def test_week_across_the_autumn_change_is_169_hours() -> None:
    # 2026-11-01 02:00 EDT -> 01:00 EST
    w = weeks.week_of(ms("2026-10-28T10:00:00-04:00"))
    assert w.start_ms == ms("2026-10-26T00:00:00-04:00")
    assert w.end_ms == ms("2026-11-02T00:00:00-05:00")
    assert w.end_ms - w.start_ms == 169 * 3600 * 1000


def test_buyback_deadline_is_friday_2359_new_york_and_countdown() -> None:
    w = weeks.week_of(ms("2026-11-18T12:00:00-05:00"))
    assert w.buyback_until_ms == ms("2026-11-21T00:00:00-05:00")
    now = ms("2026-11-22T23:00:00-05:00")
    assert weeks.countdown_ms(now) == 3600 * 1000


@given(st.integers(min_value=0, max_value=4_000_000_000_000))
def test_every_instant_is_in_exactly_one_week(instant: int) -> None:
    w = weeks.week_of(instant)
    assert w.contains(instant) and not w.next().contains(instant)
    assert w.end_ms == w.next().start_ms


# ---- the draw ------------------------------------------------------------------------

@pytest.mark.parametrize("n, sizes", [
    (1, [1]), (100, [100]), (101, [51, 50]), (250, [84, 83, 83]), (10_000, [100] * 100),
])
def test_grouping_sizes(n: int, sizes: list[int]) -> None:
    assert grouping.pool_sizes(n, 100) == sizes
    players = [f"p{i:05d}" for i in range(n)]
    pools = grouping.draw(players, secrets.token_bytes(32), 100)
    assert [len(p) for p in pools] == sizes
    assert sorted(x for p in pools for x in p) == players


@given(st.integers(0, 5000), st.integers(1, 300))
def test_pool_sizes_differ_by_at_most_one(n: int, cap: int) -> None:
    sizes = grouping.pool_sizes(n, cap)
    assert sum(sizes) == n
    if sizes:
        assert max(sizes) <= cap and max(sizes) - min(sizes) <= 1
        assert len(sizes) == -(-n // cap)


def test_the_draw_replays_from_its_seed_and_differs_between_seeds() -> None:
    players = [f"u{i}" for i in range(50)]
    seed = bytes(range(32))
    assert grouping.shuffle(players, seed) == grouping.shuffle(list(reversed(players)), seed)
    assert grouping.shuffle(players, seed) != grouping.shuffle(players, bytes(32))


def test_the_shuffle_is_not_visibly_biased() -> None:
    firsts = Counter(grouping.shuffle(["a", "b", "c"], secrets.token_bytes(32))[0]
                     for _ in range(3000))
    assert all(800 < firsts[x] < 1200 for x in "abc"), firsts


# ---- odds ----------------------------------------------------------------------------

@pytest.mark.parametrize("stake, price, back", [
    (100, 150, 250), (100, -110, 190), (110, -110, 210), (7, 150, 17), (10, -150, 16),
    (1000, 100, 2000), (1000, -100, 2000), (3, -300, 4), (1, 101, 2),
])
def test_potential_return_whole_credits_rounded_down(stake: int, price: int, back: int) -> None:
    assert odds.potential_return(stake, price) == back


@pytest.mark.parametrize("price", [0, 99, -99, 50, -1, 100_001])
def test_odds_outside_american_range_are_refused(price: int) -> None:
    with pytest.raises(odds.OddsError):
        odds.check_odds(price)


# ---- grading -------------------------------------------------------------------------

FINAL = EventStatus.FINAL


def g(market: Market, side: Side, line: int | None, home: int, away: int,
      three_way: bool = False) -> Grade:
    return grading.grade(Selection(market, side, line, three_way), Result(FINAL, home, away))


def test_moneyline_two_way() -> None:
    assert g(Market.MONEYLINE, Side.HOME, None, 3, 1) is Grade.WIN
    assert g(Market.MONEYLINE, Side.AWAY, None, 3, 1) is Grade.LOSS
    assert g(Market.MONEYLINE, Side.HOME, None, 2, 2) is Grade.PUSH  # two-way tie


def test_moneyline_three_way_draw() -> None:
    assert g(Market.MONEYLINE, Side.DRAW, None, 1, 1, True) is Grade.WIN
    assert g(Market.MONEYLINE, Side.HOME, None, 1, 1, True) is Grade.LOSS
    assert g(Market.MONEYLINE, Side.DRAW, None, 2, 1, True) is Grade.LOSS
    with pytest.raises(grading.GradingError):
        g(Market.MONEYLINE, Side.DRAW, None, 1, 1, False)


def test_spread_favourite_and_underdog() -> None:
    # home -7 (favourite), away +7 (underdog)
    assert g(Market.SPREAD, Side.HOME, -70, 28, 20) is Grade.WIN   # 28-7=21 > 20
    assert g(Market.SPREAD, Side.AWAY, 70, 28, 20) is Grade.LOSS   # 27 < 28
    assert g(Market.SPREAD, Side.HOME, -70, 27, 20) is Grade.PUSH  # 20 == 20
    assert g(Market.SPREAD, Side.AWAY, 70, 27, 20) is Grade.PUSH
    assert g(Market.SPREAD, Side.HOME, -70, 24, 20) is Grade.LOSS
    assert g(Market.SPREAD, Side.AWAY, 70, 24, 20) is Grade.WIN    # underdog covers


@given(st.integers(0, 200), st.integers(0, 200), st.integers(-300, 300))
def test_half_point_lines_never_push(home: int, away: int, half: int) -> None:
    line = half * 10 + 5
    assert g(Market.SPREAD, Side.HOME, line, home, away) is not Grade.PUSH
    assert g(Market.TOTAL, Side.OVER, abs(line), home, away) is not Grade.PUSH


def test_total_over_under_push() -> None:
    assert g(Market.TOTAL, Side.OVER, 455, 24, 22) is Grade.WIN
    assert g(Market.TOTAL, Side.UNDER, 455, 24, 22) is Grade.LOSS
    assert g(Market.TOTAL, Side.OVER, 450, 24, 20) is Grade.LOSS
    assert g(Market.TOTAL, Side.UNDER, 450, 24, 20) is Grade.WIN
    assert g(Market.TOTAL, Side.OVER, 440, 24, 20) is Grade.PUSH
    assert g(Market.TOTAL, Side.UNDER, 440, 24, 20) is Grade.PUSH


@pytest.mark.parametrize("status", [EventStatus.POSTPONED, EventStatus.CANCELLED])
def test_postponed_or_cancelled_voids(status: EventStatus) -> None:
    sel = Selection(Market.SPREAD, Side.HOME, -35)
    assert grading.grade(sel, Result(status)) is Grade.VOID


@pytest.mark.parametrize("grade_, back", [
    (Grade.WIN, 190), (Grade.LOSS, 0), (Grade.PUSH, 100), (Grade.VOID, 100)])
def test_exact_integer_returns(grade_: Grade, back: int) -> None:
    assert grading.returned(grade_, 100, odds.potential_return(100, -110)) == back


# ---- ranking and prizes --------------------------------------------------------------

def test_competition_ranking_1224_with_seat_tiebreak() -> None:
    entries = [ranking.Entry("a", 1500, 4), ranking.Entry("b", 1200, 2),
               ranking.Entry("c", 1200, 1), ranking.Entry("d", 900, 3)]
    out = ranking.rank(entries)
    assert [(s.key, s.rank) for s in out] == [("a", 1), ("c", 2), ("b", 2), ("d", 4)]


def test_prizes_with_ties_split_the_places_they_cover() -> None:
    table = [ranking.PrizeLine(1, amount_minor=10_000), ranking.PrizeLine(2, amount_minor=5_000),
             ranking.PrizeLine(3, amount_minor=2_001)]
    standings = ranking.rank([ranking.Entry("a", 10, 1), ranking.Entry("b", 8, 2),
                              ranking.Entry("c", 8, 3), ranking.Entry("d", 5, 4)])
    prizes, rest = ranking.awards(standings, table, 0)
    assert prizes == {"a": 10_000, "b": 3_500, "c": 3_500}  # (5000 + 2001) / 2 = 3500 r 1
    assert rest == 1


def test_prizes_as_shares_of_the_fund_and_a_three_way_tie_for_first() -> None:
    table = [ranking.PrizeLine(1, share_bps=5000), ranking.PrizeLine(2, share_bps=3000),
             ranking.PrizeLine(3, share_bps=2000)]
    standings = ranking.rank([ranking.Entry(k, 7, i) for i, k in enumerate("xyz")]
                             + [ranking.Entry("w", 1, 9)])
    prizes, rest = ranking.awards(standings, table, 10_000)
    assert prizes == {"x": 3333, "y": 3333, "z": 3333} and rest == 1
    assert "w" not in prizes


def test_bad_prize_tables_are_refused() -> None:
    with pytest.raises(ValueError):
        ranking.check_table([ranking.PrizeLine(2, amount_minor=1)])
    with pytest.raises(ValueError):
        ranking.check_table([ranking.PrizeLine(1, share_bps=6000),
                             ranking.PrizeLine(2, share_bps=6000)])
