"""Reading a challenge from free text: goal, stake and deadline, in the player's time zone.

Pure functions (no I/O, `now` passed in), so every phrasing is a unit test. Dates are
read by `dateparser` in the player's zone; on top of it, the readings it would guess
are turned into questions, never into a deadline:

- a numeric date whose day and month can be swapped (`3/4`) gives both options;
- an hour without am/pm after a day or "at" (`Saturday at 10`, `at 7`) gives both;
- a week, month or year without a day (`next week`, `March`) asks for the day.

A date without a time (`Friday`, `by Friday`, `tomorrow`) means the end of that day
(23:59 local); `before Friday` means the start of it. Relative phrases (`in 2 hours`,
`in 3 days`) keep the exact time. An explicit zone (`18:00 UTC`, `7am EAT`) wins over
the player's zone. Results are aware datetimes in UTC.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers
from dateparser.date import DateDataParser
from phonenumbers import timezone as phone_zones

MAX_TEXT_CHARS = 300
MAX_PHRASE_TOKENS = 8  # the longest deadline phrase tried ("next Monday at 3pm UTC ...")
MAX_GOAL_CHARS = 120
MINOR_PER_UNIT = 100
MAX_STAKE_UNITS = 10_000_000

# Regions whose numbers span several zones: the zone most of their people live in.
REGION_ZONES: dict[str, str] = {
    "US": "America/New_York", "CA": "America/Toronto", "GB": "Europe/London",
    "GG": "Europe/London", "JE": "Europe/London", "IM": "Europe/London",
    "AU": "Australia/Sydney", "RU": "Europe/Moscow", "BR": "America/Sao_Paulo",
    "MX": "America/Mexico_City", "ID": "Asia/Jakarta", "CD": "Africa/Kinshasa",
    "KZ": "Asia/Almaty", "AR": "America/Argentina/Buenos_Aires", "CL": "America/Santiago",
    "ES": "Europe/Madrid", "PT": "Europe/Lisbon", "NZ": "Pacific/Auckland",
}

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday",
            "mon", "tue", "tues", "wed", "thu", "thur", "thurs", "fri", "sat", "sun")
MONTHS = ("january", "february", "march", "april", "may", "june", "july", "august",
          "september", "october", "november", "december", "jan", "feb", "mar", "apr",
          "jun", "jul", "aug", "sep", "sept", "oct", "nov", "dec")
TRIGGERS = frozenset((
    "today", "tomorrow", "tonight", "next", "this", "in", "by", "before", "until", "till",
    "on", "at", "noon", "midnight", *WEEKDAYS, *MONTHS,
))
NORMALISE = (
    (re.compile(r"\b(?:tmrw|tmr|tmrow|tomoro|tomorow|2moro|2morrow)\b"), "tomorrow"),
    (re.compile(r"\btonite\b"), "tonight"),
    (re.compile(r"\b(\d{1,2})\s*(a|p)\.?m\.?(?=\s|$|[,.!])"), r"\1\2m"),
)
_NUMERIC_DATE = re.compile(r"(?<![\d/-])(\d{1,2})[/-](\d{1,2})(?:[/-](\d{2,4}))?(?![\d/-])")
_BARE_HOUR = re.compile(
    r"\b(at|today|tomorrow|tonight|" + "|".join(WEEKDAYS) + r")\s+(\d{1,2})(?![\d:./-])"
    r"(?!\s*(?:am|pm|a\.m|p\.m|h\b|hrs?\b|hours?\b|mins?\b|minutes?\b|o'?clock|st\b|nd\b"
    r"|rd\b|th\b|" + "|".join(MONTHS) + r"))"
)
_RELATIVE = re.compile(
    r"^(?:by\s+)?(?:in\s+)?(?:a|an|one|\d+)\s*(?:minutes?|mins?|m|hours?|hrs?|h|days?|weeks?)$"
)
_HAS_TIME = re.compile(r"\d{1,2}:\d{2}|\b\d{1,2}\s*(?:am|pm)\b|\bnoon\b|\bmidnight\b")
_BARE_NUMBER = re.compile(r"^\d+$")
_BEFORE = re.compile(r"^(?:before|until|till|til|no later than)\s+")
_STAKE_PATTERNS = (
    re.compile(r"\b(?:stake|staking|bet|betting|wager)\s*(?:of\s+|:\s*)?(-?\d[\d,_]*(?:\.\d+)?)"
               r"(?:\s*(?:credits?|kes|ksh|kshs|bob|cr))?\b"),
    re.compile(r"(?<![\w.])(-?\d[\d,_]*(?:\.\d+)?)\s*(?:credits?|kes|ksh|kshs|bob)\b"),
)
_GOAL_LEAD = re.compile(
    r"^(?:challenge|i\s+will|i'll|i\s+am\s+going\s+to|to)\b[\s:,-]*", re.IGNORECASE)
_GOAL_TAIL = re.compile(r"[\s,;:.!-]+(?:and|by|at|on|before|until|,)?\s*$")


@dataclass(frozen=True, slots=True)
class Deadline:
    """One reading of the phrase: the deadline in UTC."""

    at: datetime
    phrase: str


@dataclass(frozen=True, slots=True)
class Ambiguous:
    """The phrase has several readings (or none precise enough): ask, never pick one."""

    phrase: str
    options: tuple[datetime, ...]  # empty: no candidates, ask for a day and time
    question: str


@dataclass(frozen=True, slots=True)
class ChallengeText:
    """What a free-text challenge says; any part may be missing (then `problems` says so)."""

    goal: str | None
    stake_minor: int | None
    deadline: Deadline | Ambiguous | None
    problems: tuple[str, ...]


def zone_of(name: str | None, default: str) -> ZoneInfo:
    """The IANA zone `name`, else `default` (both checked)."""
    for candidate in (name, default):
        if candidate:
            try:
                return ZoneInfo(candidate)
            except (ZoneInfoNotFoundError, ValueError):
                continue
    return ZoneInfo("UTC")


def zone_for_phone(phone_e164: str, default: str) -> str:
    """The player's zone from their number's region: the number's own zone when it has
    one, the region's main zone when it spans several, else `default`."""
    try:
        number = phonenumbers.parse(phone_e164, None)
    except phonenumbers.NumberParseException:
        return default
    zones = [z for z in phone_zones.time_zones_for_number(number) if z != "Etc/Unknown"]
    if len(zones) == 1:
        return zones[0]
    region = phonenumbers.region_code_for_number(number)
    return REGION_ZONES.get(region or "", default)


def local_text(at: datetime, tz: ZoneInfo) -> str:
    """'Thu 5 Mar 07:00' in the player's zone."""
    local = at.astimezone(tz)
    return local.strftime("%a ") + str(local.day) + local.strftime(" %b %H:%M")


def _parser(now: datetime, tz: ZoneInfo, order: str) -> DateDataParser:
    return DateDataParser(languages=["en"], settings={
        "RELATIVE_BASE": now.astimezone(tz).replace(tzinfo=None),
        "TIMEZONE": str(tz), "TO_TIMEZONE": "UTC", "RETURN_AS_TIMEZONE_AWARE": True,
        "PREFER_DATES_FROM": "future", "RETURN_TIME_AS_PERIOD": True, "DATE_ORDER": order,
    })


def _normalise(phrase: str) -> str:
    text = " ".join(phrase.lower().split()).strip(" ,.!?")
    for pattern, repl in NORMALISE:
        text = pattern.sub(repl, text)
    return text


def _read(text: str, now: datetime, tz: ZoneInfo, order: str) -> tuple[datetime, str] | None:
    """One dateparser reading of an unambiguous phrase: (UTC instant, period)."""
    data = _parser(now, tz, order).get_date_data(text)
    if data.date_obj is None:
        return None
    at = data.date_obj
    if at.tzinfo is None:
        at = at.replace(tzinfo=tz)
    return at.astimezone(UTC), str(data.period or "day")


def _shape(at: datetime, period: str, text: str, before: bool, tz: ZoneInfo) -> datetime | None:
    """Apply the day/vague rules to one reading; None when too vague to be a deadline."""
    relative = _RELATIVE.match(text) is not None
    if relative:
        return at
    if period in ("week", "month", "year"):
        return None
    if period == "day" and _HAS_TIME.search(text) is None:
        day = at.astimezone(tz).date()
        if before:
            return datetime.combine(day, time(0, 0), tz).astimezone(UTC)
        return datetime.combine(day, time(23, 59), tz).astimezone(UTC)
    return at


def parse_deadline(
    phrase: str, now: datetime, tz: ZoneInfo
) -> Deadline | Ambiguous | None:
    """The deadline a short phrase names; Ambiguous when it has several readings; None
    when it is not a date at all."""
    assert now.tzinfo is not None, "now must be aware"
    text = _normalise(phrase)
    if not text or len(text) > MAX_TEXT_CHARS:
        return None
    before = _BEFORE.match(text) is not None
    text = _BEFORE.sub("", text)

    variants: list[tuple[str, str]] = []  # (text, date order) readings to try
    numeric = _NUMERIC_DATE.search(text)
    if numeric and int(numeric.group(1)) <= 12 and int(numeric.group(2)) <= 12 \
            and int(numeric.group(1)) != int(numeric.group(2)):
        variants = [(text, "DMY"), (text, "MDY")]
    else:
        variants = [(text, "DMY")]

    hour = _BARE_HOUR.search(text)
    if hour is not None:
        h = int(hour.group(2))
        if h > 23:
            return None
        start, end = hour.span(2)
        spellings = [f"{h}am", f"{h}pm"] if 1 <= h <= 12 else [f"{h:02d}:00"]
        variants = [(t[:start] + s + t[end:], order)
                    for (t, order) in variants for s in spellings]

    readings: list[datetime] = []
    for variant, order in variants:
        read = _read(variant, now, tz, order)
        if read is None:
            continue
        shaped = _shape(read[0], read[1], variant, before, tz)
        if shaped is None:
            return Ambiguous(phrase, (), "Which day and time exactly? For example"
                             " 'by Friday 6pm' or 'tomorrow 7am'.")
        if shaped not in readings:
            readings.append(shaped)
    if not readings:
        return None
    if len(readings) == 1:
        return Deadline(readings[0], phrase)
    shown = " or ".join(local_text(r, tz) for r in readings)
    return Ambiguous(phrase, tuple(readings), f"Did you mean {shown}?")


def find_deadline(
    text: str, now: datetime, tz: ZoneInfo
) -> tuple[Deadline | Ambiguous | None, str]:
    """The first deadline phrase in `text` (the longest one at the earliest place where
    one starts) and the text without it."""
    tokens = list(re.finditer(r"\S+", text))
    for i, token in enumerate(tokens):
        word = token.group().lower().strip(",.!?:;")
        if word not in TRIGGERS and not word[:1].isdigit() and word not in (
            "tmrw", "tmr", "tomoro", "tomorow", "2moro", "2morrow", "tonite",
        ):
            continue
        following = tokens[i + 1].group().lower().strip(",.!?:;") if i + 1 < len(tokens) else ""
        if _BARE_NUMBER.match(word) and following not in MONTHS:
            continue  # "20 pages" is a count, not a date; "10 March" is a date
        for length in range(min(MAX_PHRASE_TOKENS, len(tokens) - i), 0, -1):
            start, end = token.start(), tokens[i + length - 1].end()
            phrase = text[start:end].strip(" ,.!?;:")
            if phrase.lower() in ("in", "on", "at", "by", "this", "next", "before", "until"):
                continue
            found = parse_deadline(phrase, now, tz)
            if found is not None:
                return found, (text[:start] + " " + text[end:]).strip()
    return None, text


def parse_amount_units(token: str) -> int | None:
    """Whole units ("200", "1,000") in minor units; None for a fraction, zero or negative."""
    cleaned = token.replace(",", "").replace("_", "")
    if not cleaned.isdigit() or len(cleaned) > 12:
        return None
    units = int(cleaned)
    if not 0 < units <= MAX_STAKE_UNITS:
        return None
    return units * MINOR_PER_UNIT


def find_stake(text: str) -> tuple[int | None, str | None, str]:
    """(stake_minor, a problem sentence, the text without the stake)."""
    for pattern in _STAKE_PATTERNS:
        matches = list(pattern.finditer(text.lower()))
        if not matches:
            continue
        m = matches[-1]
        amount = parse_amount_units(m.group(1))
        rest = (text[: m.start()] + " " + text[m.end():]).strip()
        if amount is None:
            return None, "The stake must be a whole amount, e.g. 'stake 200'.", rest
        return amount, None, rest
    return None, None, text


def clean_goal(text: str) -> str | None:
    """The goal words left after the date and stake are taken out; None if nothing is left."""
    goal = " ".join(text.split())
    for _ in range(3):
        goal = _GOAL_LEAD.sub("", goal.strip(" ,;:.!-"), count=1)
        goal = _GOAL_TAIL.sub("", goal)
    goal = goal.strip(" ,;:.!-")
    if not goal or not any(c.isalpha() for c in goal):
        return None
    return goal[:MAX_GOAL_CHARS]


def parse_challenge(text: str, now: datetime, tz: ZoneInfo) -> ChallengeText:
    """Goal, stake and deadline from one message ("gym tomorrow 7am stake 200")."""
    text = " ".join(text.split())[:MAX_TEXT_CHARS]
    problems: list[str] = []
    stake, stake_problem, rest = find_stake(text)
    if stake_problem:
        problems.append(stake_problem)
    elif stake is None:
        problems.append("Add a stake, e.g. 'stake 200'.")
    deadline, rest = find_deadline(rest, now, tz)
    if deadline is None:
        problems.append("Add a deadline, e.g. 'tomorrow 7am', 'in 2 hours' or 'by Friday'.")
    goal = clean_goal(rest)
    if goal is None:
        problems.append("Say what your goal is, e.g. 'gym tomorrow 7am stake 200'.")
    return ChallengeText(goal, stake, deadline, tuple(problems))


_REMIND_IN = re.compile(
    r"\bin\s+(a|an|one|half an|\d+)\s*(minutes?|mins?|m|hours?|hrs?|h)\b")
_REMIND_BEFORE = re.compile(
    r"\b(a|an|one|half an|\d+)\s*(minutes?|mins?|m|hours?|hrs?|h)\s+before\b")


def _duration(count: str, unit: str) -> timedelta | None:
    n = {"a": 1, "an": 1, "one": 1}.get(count)
    if count == "half an":
        return timedelta(minutes=30)
    if n is None:
        if not count.isdigit() or len(count) > 5:
            return None
        n = int(count)
    if n <= 0:
        return None
    return timedelta(hours=n) if unit.startswith("h") else timedelta(minutes=n)


def parse_reminder(
    text: str, now: datetime, deadline: datetime, tz: ZoneInfo
) -> datetime | str:
    """When a requested reminder is due ("in 1 hour", "30 minutes before", "at 6pm"),
    or a sentence saying why it cannot be."""
    lowered = _normalise(text)
    due: datetime | None = None
    m = _REMIND_BEFORE.search(lowered)
    if m:
        span = _duration(m.group(1), m.group(2))
        due = deadline - span if span else None
    elif m2 := _REMIND_IN.search(lowered):
        span = _duration(m2.group(1), m2.group(2))
        due = now + span if span else None
    else:
        phrase = re.sub(r"^.*?\bremind(?:\s+me)?\b", "", lowered).strip()
        found = parse_deadline(phrase, now, tz) if phrase else None
        if isinstance(found, Ambiguous):
            return found.question
        if isinstance(found, Deadline):
            due = found.at
    if due is None:
        return "Say when, e.g. 'remind me in 1 hour' or 'remind me 30 minutes before'."
    if due <= now:
        return "That moment has already passed."
    if due >= deadline:
        return "That is after your deadline; pick an earlier time."
    return due
