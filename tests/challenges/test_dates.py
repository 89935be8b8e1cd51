"""Reading deadlines, stakes and goals from free text: over 30 phrasings, zones, ambiguity.

`now` is Wednesday 4 March 2026, 10:00 in Nairobi (07:00 UTC) unless a test says
otherwise. An ambiguous phrase must come back as a question, never as a deadline.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from server.features.challenges.dates import (
    Ambiguous,
    Deadline,
    parse_challenge,
    parse_deadline,
    parse_reminder,
    zone_for_phone,
)

NAIROBI = ZoneInfo("Africa/Nairobi")
NEW_YORK = ZoneInfo("America/New_York")
NOW = datetime(2026, 3, 4, 7, 0, tzinfo=UTC)  # Wed 4 Mar 2026, 10:00 in Nairobi


def local(tz: ZoneInfo, month: int, day: int, hour: int, minute: int = 0,
          year: int = 2026) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=tz).astimezone(UTC)


# (phrase, the deadline in Nairobi's local time)
CLEAR: list[tuple[str, datetime]] = [
    ("tomorrow", local(NAIROBI, 3, 5, 23, 59)),
    ("tomorrow 7am", local(NAIROBI, 3, 5, 7)),
    ("tomorrow at 7am", local(NAIROBI, 3, 5, 7)),
    ("Tomorrow 7 AM", local(NAIROBI, 3, 5, 7)),
    ("tmrw 7am", local(NAIROBI, 3, 5, 7)),
    ("tomorrow 07:00", local(NAIROBI, 3, 5, 7)),
    ("noon tomorrow", local(NAIROBI, 3, 5, 12)),
    ("in 2 hours", NOW + timedelta(hours=2)),
    ("in 90 minutes", NOW + timedelta(minutes=90)),
    ("in 3 days", NOW + timedelta(days=3)),
    ("in a week", NOW + timedelta(days=7)),
    ("next Monday 3pm", local(NAIROBI, 3, 9, 15)),
    ("by Friday", local(NAIROBI, 3, 6, 23, 59)),
    ("Friday", local(NAIROBI, 3, 6, 23, 59)),
    ("before Friday", local(NAIROBI, 3, 6, 0, 0)),
    ("by Sunday 8pm", local(NAIROBI, 3, 8, 20)),
    ("friday 18:30", local(NAIROBI, 3, 6, 18, 30)),
    ("on Saturday 10am", local(NAIROBI, 3, 7, 10)),
    ("saturday at 18", local(NAIROBI, 3, 7, 18)),
    ("thursday 23:59", local(NAIROBI, 3, 5, 23, 59)),
    ("7pm", local(NAIROBI, 3, 4, 19)),
    ("7 pm", local(NAIROBI, 3, 4, 19)),
    ("8am", local(NAIROBI, 3, 5, 8)),  # 08:00 today has passed: the next one
    ("13/03", local(NAIROBI, 3, 13, 23, 59)),  # only one reading: day 13
    ("12/12", local(NAIROBI, 12, 12, 23, 59)),  # both readings agree
    ("March 10 8pm", local(NAIROBI, 3, 10, 20)),
    ("15 March 2026 6pm", local(NAIROBI, 3, 15, 18)),
    ("2026-03-10 18:00", local(NAIROBI, 3, 10, 18)),
    # An explicit zone wins over the player's.
    ("10 March 18:00 UTC", datetime(2026, 3, 10, 18, 0, tzinfo=UTC)),
    ("tomorrow 7am UTC", datetime(2026, 3, 5, 7, 0, tzinfo=UTC)),
    ("tomorrow 7am EAT", local(NAIROBI, 3, 5, 7)),
]

AMBIGUOUS: list[tuple[str, int]] = [  # (phrase, how many readings are offered)
    ("3/4", 2),  # 3 April or 4 March
    ("3/4 5pm", 2),
    ("by 05/06", 2),
    ("at 7", 2),  # 07:00 or 19:00
    ("Saturday at 10", 2),
    ("next friday 9", 2),
    ("tomorrow 6", 2),
    ("next week", 0),  # which day?
    ("next month", 0),
    ("March", 0),
]

NOT_DATES = ["gym", "200", "5km", "read a book", ""]


@pytest.mark.parametrize(("phrase", "expected"), CLEAR, ids=[p for p, _ in CLEAR])
def test_clear_phrases_give_one_deadline(phrase: str, expected: datetime) -> None:
    found = parse_deadline(phrase, NOW, NAIROBI)
    assert isinstance(found, Deadline), found
    assert found.at == expected
    assert found.at.tzinfo is not None


@pytest.mark.parametrize(("phrase", "readings"), AMBIGUOUS, ids=[p for p, _ in AMBIGUOUS])
def test_ambiguous_phrases_ask(phrase: str, readings: int) -> None:
    found = parse_deadline(phrase, NOW, NAIROBI)
    assert isinstance(found, Ambiguous), found
    assert len(found.options) == readings
    assert found.question.endswith("?") or "Which day" in found.question
    assert len(set(found.options)) == len(found.options)


def test_am_pm_readings_are_twelve_hours_apart() -> None:
    found = parse_deadline("Saturday at 10", NOW, NAIROBI)
    assert isinstance(found, Ambiguous)
    assert found.options == (local(NAIROBI, 3, 7, 10), local(NAIROBI, 3, 7, 22))
    assert "Sat 7 Mar 10:00 or Sat 7 Mar 22:00" in found.question


def test_day_month_readings_are_both_offered() -> None:
    found = parse_deadline("3/4 5pm", NOW, NAIROBI)
    assert isinstance(found, Ambiguous)
    assert set(found.options) == {local(NAIROBI, 4, 3, 17), local(NAIROBI, 3, 4, 17)}


@pytest.mark.parametrize("phrase", NOT_DATES)
def test_words_that_are_not_dates(phrase: str) -> None:
    assert parse_deadline(phrase, NOW, NAIROBI) is None


def test_the_players_zone_decides_local_times() -> None:
    ny = parse_deadline("tomorrow 7am", NOW, NEW_YORK)
    nairobi = parse_deadline("tomorrow 7am", NOW, NAIROBI)
    assert isinstance(ny, Deadline) and isinstance(nairobi, Deadline)
    # 07:00 UTC is 02:00 in New York: "tomorrow" there is also 5 March.
    assert ny.at == local(NEW_YORK, 3, 5, 7)
    assert ny.at - nairobi.at == timedelta(hours=8)


def test_a_date_across_a_daylight_saving_change() -> None:
    # New York moves its clocks forward on 8 March 2026: the local 7am keeps its meaning.
    found = parse_deadline("next Monday 7am", NOW, NEW_YORK)
    assert isinstance(found, Deadline)
    assert found.at == datetime(2026, 3, 9, 11, 0, tzinfo=UTC)  # EDT, UTC-4


@pytest.mark.parametrize(("phone", "zone"), [
    ("+254712345678", "Africa/Nairobi"),
    ("+12125550123", "America/New_York"),
    ("+447911123456", "Europe/London"),
    ("+4915112345678", "Europe/Berlin"),
    ("+61412345678", "Australia/Sydney"),
    ("not a number", "Africa/Nairobi"),
])
def test_zone_from_the_phone_region(phone: str, zone: str) -> None:
    assert zone_for_phone(phone, "Africa/Nairobi") == zone


@pytest.mark.parametrize(("text", "goal", "stake", "phrase"), [
    ("gym tomorrow 7am stake 200", "gym", 20_000, "tomorrow 7am"),
    ("I'll go to the gym by Friday, stake 200", "go to the gym", 20_000, "by Friday"),
    ("run 5km next Monday 3pm stake 50 credits", "run 5km", 5_000, "next Monday 3pm"),
    ("read 20 pages in 2 hours stake 1,000", "read 20 pages", 100_000, "in 2 hours"),
    ("meditate tonight bet 30", "meditate", 3_000, "tonight"),
    ("stake 75: finish the essay by Sunday 8pm", "finish the essay", 7_500, "by Sunday 8pm"),
])
def test_goal_stake_and_deadline_from_one_message(
    text: str, goal: str, stake: int, phrase: str
) -> None:
    parsed = parse_challenge(text, NOW, NAIROBI)
    assert parsed.problems == ()
    assert parsed.goal == goal and parsed.stake_minor == stake
    assert parsed.deadline is not None and parsed.deadline.phrase == phrase


@pytest.mark.parametrize(("text", "problem"), [
    ("drink water stake 10", "Add a deadline"),
    ("gym tomorrow 7am", "Add a stake"),
    ("gym tomorrow 7am stake 2.5", "whole amount"),
    ("gym tomorrow 7am stake -5", "whole amount"),
    ("tomorrow 7am stake 200", "Say what your goal is"),
])
def test_missing_parts_are_named(text: str, problem: str) -> None:
    parsed = parse_challenge(text, NOW, NAIROBI)
    assert any(problem in p for p in parsed.problems), parsed


def test_an_ambiguous_date_inside_a_message_stays_a_question() -> None:
    parsed = parse_challenge("pray at 7 stake 20", NOW, NAIROBI)
    assert parsed.goal == "pray" and parsed.stake_minor == 2_000
    assert isinstance(parsed.deadline, Ambiguous) and len(parsed.deadline.options) == 2


@pytest.mark.parametrize(("text", "due"), [
    ("remind me in 1 hour", NOW + timedelta(hours=1)),
    ("remind me in half an hour", NOW + timedelta(minutes=30)),
    ("remind me in 45 min", NOW + timedelta(minutes=45)),
    ("remind me 30 minutes before", local(NAIROBI, 3, 5, 6, 30)),
    ("remind me an hour before", local(NAIROBI, 3, 5, 6)),
    ("remind me at 6pm", local(NAIROBI, 3, 4, 18)),
])
def test_reminder_requests(text: str, due: datetime) -> None:
    deadline = local(NAIROBI, 3, 5, 7)
    assert parse_reminder(text, NOW, deadline, NAIROBI) == due


@pytest.mark.parametrize(("text", "says"), [
    ("remind me in 30 hours", "after your deadline"),
    ("remind me 30 hours before", "already passed"),
    ("remind me at 7", "Did you mean"),
    ("remind me sometime", "Say when"),
])
def test_reminder_requests_that_cannot_be(text: str, says: str) -> None:
    answer = parse_reminder(text, NOW, local(NAIROBI, 3, 5, 7), NAIROBI)
    assert isinstance(answer, str) and says in answer


@settings(max_examples=60, deadline=None)
@given(hours=st.integers(min_value=1, max_value=24 * 30),
       minutes=st.integers(min_value=0, max_value=59))
def test_relative_phrases_are_exact(hours: int, minutes: int) -> None:
    """"in N hours" is exactly N hours from now, whatever the zone."""
    for tz in (NAIROBI, NEW_YORK):
        found = parse_deadline(f"in {hours} hours", NOW + timedelta(minutes=minutes), tz)
        assert isinstance(found, Deadline)
        assert found.at == NOW + timedelta(minutes=minutes, hours=hours)
