"""Working-day calendar: Tết 2026, make-up Saturdays, office hours."""

from __future__ import annotations

from datetime import date, datetime, time

import holidays
import pytest

from hopnhat.config import VN_TZ
from hopnhat.errors import InvalidInput
from hopnhat.settlement.calendar import WorkCalendar, parse_office_hours


def vn(*args: int) -> datetime:
    return datetime(*args, tzinfo=VN_TZ)  # type: ignore[misc]


def test_tet_2026_is_what_the_holidays_package_says() -> None:
    vn_2026 = holidays.country_holidays("VN", years=2026)
    assert all(date(2026, 2, d) in vn_2026 for d in range(16, 21))


def test_due_date_skips_tet_2026() -> None:
    cal = WorkCalendar()
    # Friday 13 Feb 09:00 + 3 working days: 6.5 h on Friday, Tết week 16-20 Feb off, then Mon, Tue and 1.5 h Wed.
    assert cal.add_working_days(vn(2026, 2, 13, 9, 0), 3) == vn(2026, 2, 25, 9, 0)


def test_make_up_saturday_counts_and_extra_day_off_does_not() -> None:
    start = vn(2026, 3, 6, 7, 30)  # a Friday
    assert WorkCalendar().add_working_days(start, 2) == vn(2026, 3, 9, 17, 30)
    with_saturday = WorkCalendar({date(2026, 3, 7): "work"})
    assert with_saturday.add_working_days(start, 2) == vn(2026, 3, 7, 17, 30)
    with_day_off = WorkCalendar({date(2026, 3, 9): "off"})
    assert with_day_off.add_working_days(start, 2) == vn(2026, 3, 10, 17, 30)


def test_office_hours_and_lunch_break() -> None:
    cal = WorkCalendar()
    assert cal.add_working_hours(vn(2026, 3, 2, 11, 0), 1) == vn(2026, 3, 2, 14, 0)
    assert cal.add_working_hours(vn(2026, 3, 2, 18, 0), 1) == vn(2026, 3, 3, 8, 30)
    assert cal.working_hours_between(vn(2026, 3, 6, 16, 30), vn(2026, 3, 9, 8, 30)) == 2.0
    short = WorkCalendar(office_hours=parse_office_hours("08:00-12:00"))
    assert short.hours_per_day == 4
    assert short.add_working_days(vn(2026, 3, 2, 8, 0), 1) == vn(2026, 3, 2, 12, 0)


@pytest.mark.parametrize("text", ["8-12", "13:00-12:00", "08:00-12:00,11:00-13:00"])
def test_bad_office_hours_are_refused(text: str) -> None:
    with pytest.raises(InvalidInput):
        parse_office_hours(text)


def test_naive_start_is_refused() -> None:
    with pytest.raises(InvalidInput):
        WorkCalendar().add_working_hours(datetime.combine(date(2026, 3, 2), time(8)), 1)
