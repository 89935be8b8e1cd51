"""Pool weeks: Monday 00:00 America/New_York to the next Monday 00:00, DST-correct.

A week is named by the ISO year and week of its Monday (`2026-W48`); its credits are a
ledger currency of their own (`POOL_2026W48`), so one week's credits can never be spent in
another week or mixed with wallet money. Times are epoch milliseconds (the server's clock).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

NEW_YORK = ZoneInfo("America/New_York")
WEEK_ID_RE = re.compile(r"^(\d{4})-W(\d{2})$")
CURRENCY_PREFIX = "POOL_"


def _ms(dt: datetime) -> int:
    return int(dt.timestamp() * 1000)


def _ny_midnight(day: date) -> datetime:
    """00:00 New York time on `day` (a wall-clock time that always exists: DST moves 02:00)."""
    return datetime.combine(day, time(0, 0), tzinfo=NEW_YORK)


@dataclass(frozen=True, slots=True)
class Week:
    """One pool week: [start_ms, end_ms), with its id, currency and buy-back deadline."""

    monday: date  # the Monday in New York on which the week starts

    @property
    def id(self) -> str:
        year, week, _ = self.monday.isocalendar()
        return f"{year:04d}-W{week:02d}"

    @property
    def currency(self) -> str:
        """The ledger currency of this week's credits, e.g. POOL_2026W48 ([A-Z][A-Z0-9_]{1,15})."""
        year, week, _ = self.monday.isocalendar()
        return f"{CURRENCY_PREFIX}{year:04d}W{week:02d}"

    @property
    def start_ms(self) -> int:
        return _ms(_ny_midnight(self.monday))

    @property
    def end_ms(self) -> int:
        return _ms(_ny_midnight(self.monday + timedelta(days=7)))

    @property
    def buyback_until_ms(self) -> int:
        """Buy-back is allowed before this: Saturday 00:00 New York (through Friday 23:59)."""
        return _ms(_ny_midnight(self.monday + timedelta(days=5)))

    def next(self) -> Week:
        return Week(self.monday + timedelta(days=7))

    def previous(self) -> Week:
        return Week(self.monday - timedelta(days=7))

    def contains(self, instant_ms: int) -> bool:
        return self.start_ms <= instant_ms < self.end_ms


def week_of(instant_ms: int) -> Week:
    """The week holding `instant_ms` (judged on New York's wall clock)."""
    local = datetime.fromtimestamp(instant_ms / 1000, tz=UTC).astimezone(NEW_YORK)
    monday = local.date() - timedelta(days=local.weekday())
    week = Week(monday)
    assert week.contains(instant_ms), (instant_ms, week)
    return week


def parse_week_id(week_id: str) -> Week:
    """`2026-W48` -> that Week; ValueError for anything else."""
    m = WEEK_ID_RE.match(week_id)
    if m is None:
        raise ValueError(f"not a week id: {week_id!r}")
    return Week(date.fromisocalendar(int(m.group(1)), int(m.group(2)), 1))


def countdown_ms(instant_ms: int) -> int:
    """Milliseconds from `instant_ms` to the start of the next week (the next draw)."""
    return week_of(instant_ms).end_ms - instant_ms
