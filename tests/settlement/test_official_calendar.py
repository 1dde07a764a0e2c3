"""Due dates on the official calendar of the civil service: the bundled days off and Saturdays worked, and the
precedence operator > bundled > library."""

from __future__ import annotations

from datetime import datetime

import pytest
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from hopnhat.cli import app as cli
from hopnhat.config import VN_TZ
from hopnhat.settlement import service
from hopnhat.settlement.calendar import WorkCalendar


def vn(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=VN_TZ)


@pytest.mark.parametrize(
    ("start", "days", "due"),
    [
        ("2025-04-25 09:00", 1, "2025-04-26 09:00"),  # Saturday worked for Friday 2 May 2025
        ("2025-12-31 09:00", 1, "2026-01-05 09:00"),  # 1-4 January 2026 off (Công văn 12729/VPCP-KGVX)
        ("2026-01-09 09:00", 1, "2026-01-10 09:00"),  # Saturday worked for Friday 2 January
        ("2026-08-21 09:00", 1, "2026-08-22 09:00"),  # Saturday worked for Monday 31 August
        ("2026-02-13 09:00", 5, "2026-02-27 09:00"),  # Tết 2026
        ("2026-04-24 09:00", 3, "2026-05-04 09:00"),  # Hùng Kings' day on a Sunday: Monday 27 April off
    ],
)
def test_due_dates_follow_the_official_calendar(start: str, days: int, due: str) -> None:
    assert WorkCalendar().add_working_days(vn(start), days) == vn(due)


def test_the_operator_overrules_the_bundled_table_and_the_library() -> None:
    # The bundled table works Saturday 10 January 2026; the operator says the center stays closed.
    closed = WorkCalendar({datetime(2026, 1, 10).date(): "off"})
    assert closed.add_working_days(vn("2026-01-09 09:00"), 1) == vn("2026-01-12 09:00")
    # The library lists 24 November 2026 (Vietnam Culture Day) as a holiday; until the city decides, an operator may
    # record that the centers work it.
    assert not WorkCalendar().is_working_day(datetime(2026, 11, 24).date())
    assert WorkCalendar({datetime(2026, 11, 24).date(): "not_off"}).is_working_day(datetime(2026, 11, 24).date())


def test_an_edit_is_audited_and_lists_the_dossiers_it_would_move_without_moving_them(store_url: str) -> None:
    from hopnhat.db import make_engine, session_scope
    from hopnhat.identity.models import AuditEntry
    from hopnhat.store.models import Dossier, Status

    engine = make_engine(store_url)
    due = vn("2026-12-28 09:00")
    with session_scope(engine) as s:
        s.add(
            Dossier(
                code="H92-CAL-0001",
                province_code="92",
                procedure_code="1.001234",
                status=int(Status.IN_PROCESS),
                received_at=vn("2026-12-21 09:00"),
                due_at=due,
                center_code="000.00.31.H92",
            )
        )
    result = CliRunner().invoke(
        cli, ["--db", store_url, "calendar", "days", "add", "2026-12-24", "--kind", "off", "--note", "thử"]
    )
    try:
        assert result.exit_code == 0, result.output
        assert "H92-CAL-0001" in result.output and "NOT changed" in result.output
        with Session(engine) as s:
            assert s.get(Dossier, s.query(Dossier.id).filter_by(code="H92-CAL-0001").scalar()).due_at == due
            entry = s.query(AuditEntry).filter_by(action="calendar.set_day").one()
            assert entry.object_id == "2026-12-24" and entry.changes == {"kind": [None, "off"]}
        with Session(engine) as s:
            assert not service.load_calendar(s).is_working_day(datetime(2026, 12, 24).date())
    finally:
        engine.dispose()


def test_the_days_list_says_where_each_day_comes_from(tmp_path: object) -> None:
    import json

    url = f"sqlite:///{tmp_path}/cal.db"
    out = CliRunner().invoke(cli, ["--db", url, "calendar", "days", "list"])
    assert out.exit_code == 0, out.output
    rows = {r["day"]: r for r in json.loads(out.output)}
    assert rows["2026-01-10"] == {"day": "2026-01-10", "kind": "work", "from": "bundled"}
    assert rows["2026-11-24"]["from"] == "library (unconfirmed)"
