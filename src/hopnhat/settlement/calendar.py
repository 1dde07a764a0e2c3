"""Working-day calendar (lịch làm việc): Saturday and Sunday off, Vietnamese public holidays from ``holidays``,
the civil service's days off and Saturdays worked (bundled, checked), an operator's table, and office hours. Time
limits are counted in working hours inside the office hours (8 per working day by default), in Vietnam time.

One rule of precedence: the operator's table (``off``, ``work``, or ``not_off`` to overrule a library holiday) over
the bundled table (``data/vn_civil_service_days_2025_2026.csv``, with its legal basis) over the library."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache

import holidays

from hopnhat.config import VN_TZ
from hopnhat.errors import InvalidInput

DEFAULT_OFFICE_HOURS: tuple[tuple[time, time], ...] = ((time(7, 30), time(11, 30)), (time(13, 30), time(17, 30)))
HOURS_PER_DAY = 8.0
_MAX_DAYS_SCANNED = 3660  # ten years: a limit larger than that is a typing error, not a deadline


def parse_office_hours(text: str) -> tuple[tuple[time, time], ...]:
    """``07:30-11:30,13:30-17:30`` -> intervals; ordered, non-overlapping, non-empty."""
    out: list[tuple[time, time]] = []
    try:
        for part in text.split(","):
            start_s, end_s = part.strip().split("-")
            out.append((time.fromisoformat(start_s.strip()), time.fromisoformat(end_s.strip())))
    except ValueError:
        raise InvalidInput(f"office hours {text!r}: expected HH:MM-HH:MM[,HH:MM-HH:MM...]") from None
    for i, (start, end) in enumerate(out):
        if end <= start or (i and start < out[i - 1][1]):
            raise InvalidInput(f"office hours {text!r}: intervals must be ordered and not overlap")
    return tuple(out)


@lru_cache(maxsize=1)
def _bundled_rows() -> tuple[dict[str, str], ...]:
    import csv
    import io
    from importlib import resources

    text = resources.files("hopnhat.settlement").joinpath("data/vn_civil_service_days_2025_2026.csv").read_text("utf-8")
    return tuple(csv.DictReader(io.StringIO(text)))


@lru_cache(maxsize=1)
def bundled_days() -> dict[date, str]:
    """The checked days off and Saturdays worked of the civil service (``day_off`` / ``working_day``)."""
    return {date.fromisoformat(r["date"]): r["kind"] for r in _bundled_rows()}


@lru_cache(maxsize=1)
def bundled_legal_basis() -> dict[date, str]:
    """The legal basis of each bundled day, as the table states it."""
    return {date.fromisoformat(r["date"]): r["legal_basis"] for r in _bundled_rows()}


OVERRIDE_KINDS = ("off", "work", "not_off")
"""What an operator may record for a day: an extra day off, a day worked, or "not a day off" (a library holiday the
centers work, such as 24 November until the city decides)."""


@lru_cache(maxsize=64)
def _public_holidays(year: int) -> frozenset[date]:
    return frozenset(holidays.country_holidays("VN", years=year).keys())


def library_holiday(day: date) -> bool:
    """Whether the ``holidays`` library lists ``day`` as a Vietnamese public holiday."""
    return day in _public_holidays(day.year)


def _hours(start: time, end: time) -> float:
    return (datetime.combine(date.min, end) - datetime.combine(date.min, start)).total_seconds() / 3600


class WorkCalendar:
    """Which days are worked and when. ``overrides`` maps a day to ``off`` or ``work`` (CalendarDay rows)."""

    def __init__(
        self,
        overrides: Mapping[date, str] | None = None,
        office_hours: Sequence[tuple[time, time]] = DEFAULT_OFFICE_HOURS,
    ) -> None:
        self.overrides = dict(overrides or {})
        self.office_hours = tuple(office_hours)
        self.hours_per_day = sum(_hours(a, b) for a, b in self.office_hours)

    def is_working_day(self, day: date) -> bool:
        kind = self.overrides.get(day)
        if kind == "not_off":
            return day.weekday() < 5  # the weekday rule, without the library's holiday
        if kind is not None:
            return kind == "work"
        bundled = bundled_days().get(day)
        if bundled is not None:
            return bundled == "working_day"
        return day.weekday() < 5 and day not in _public_holidays(day.year)

    def add_working_hours(self, start: datetime, hours: float) -> datetime:
        """The instant ``hours`` working hours after ``start`` (aware); the result is in Vietnam time.

        A deadline that ends exactly at the close of an office period stays there rather than moving to the next
        opening, so one full day from 07:30 Monday is 17:30 Monday."""
        if start.tzinfo is None:
            raise InvalidInput("start time must carry a time zone")
        if hours < 0:
            raise InvalidInput(f"cannot add a negative number of working hours ({hours})")
        local = start.astimezone(VN_TZ)
        remaining = timedelta(hours=hours)
        day = local.date()
        for _ in range(_MAX_DAYS_SCANNED):
            if self.is_working_day(day):
                for open_t, close_t in self.office_hours:
                    begin = datetime.combine(day, open_t, VN_TZ)
                    end = datetime.combine(day, close_t, VN_TZ)
                    if end <= local:
                        continue
                    begin = max(begin, local)
                    if remaining <= end - begin:
                        return begin + remaining
                    remaining -= end - begin
            day += timedelta(days=1)
        raise InvalidInput(f"{hours} working hours reach beyond ten years")

    def add_working_days(self, start: datetime, days: float) -> datetime:
        return self.add_working_hours(start, days * self.hours_per_day)

    def working_hours_between(self, start: datetime, end: datetime) -> float:
        """Working hours elapsed from ``start`` to ``end`` (0 when ``end`` is not after ``start``)."""
        if end <= start:
            return 0.0
        a, b = start.astimezone(VN_TZ), end.astimezone(VN_TZ)
        total = timedelta()
        day = a.date()
        while day <= b.date():
            if self.is_working_day(day):
                for open_t, close_t in self.office_hours:
                    lo = max(datetime.combine(day, open_t, VN_TZ), a)
                    hi = min(datetime.combine(day, close_t, VN_TZ), b)
                    if hi > lo:
                        total += hi - lo
            day += timedelta(days=1)
        return total.total_seconds() / 3600


def to_utc(value: datetime) -> datetime:
    return value.astimezone(UTC)


__all__ = [
    "DEFAULT_OFFICE_HOURS",
    "HOURS_PER_DAY",
    "OVERRIDE_KINDS",
    "WorkCalendar",
    "bundled_days",
    "bundled_legal_basis",
    "library_holiday",
    "parse_office_hours",
    "to_utc",
]
