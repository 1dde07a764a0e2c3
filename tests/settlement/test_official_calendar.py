"""Due dates on the official calendar of the civil service: the bundled days off and Saturdays worked, and the
precedence operator > bundled > library."""

from __future__ import annotations

from datetime import datetime

import pytest
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from hopnhat.cli import app as cli
from hopnhat.config import VN_TZ
from hopnhat.errors import InvalidInput
from hopnhat.identity.roles import Role
from hopnhat.settlement import service
from hopnhat.settlement.calendar import WorkCalendar
from hopnhat.store.models import Dossier
from tests.identity_support import principal


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
        cli,
        ["--db", store_url, "calendar", "days", "add", "2026-12-24", "--kind", "off", "--note", "thử"],
        env={"HOPNHAT_LANG": "en"},
    )
    try:
        assert result.exit_code == 0, result.output
        # A table of the code, the due date given and the new calendar's, in Vietnam time (the cells wrap at 80).
        assert "H92-CAL-0001" in result.output and "2026-12-28" in result.output and "2026-12-29" in result.output
        assert "NOT changed" in result.output
        with Session(engine) as s:
            assert s.get(Dossier, s.query(Dossier.id).filter_by(code="H92-CAL-0001").scalar()).due_at == due
            entry = s.query(AuditEntry).filter_by(action="calendar.set_day").one()
            assert entry.object_id == "2026-12-24"
            assert entry.changes == {"kind": [None, "off"], "legal_basis": [None, "thử"]}
        with Session(engine) as s:
            assert not service.load_calendar(s).is_working_day(datetime(2026, 12, 24).date())
    finally:
        engine.dispose()


def test_the_days_list_says_where_each_day_comes_from(tmp_path: object) -> None:
    import json

    url = f"sqlite:///{tmp_path}/cal.db"
    out = CliRunner().invoke(cli, ["--db", url, "calendar", "days", "list", "--json"])
    assert out.exit_code == 0, out.output
    rows = {r["day"]: r for r in json.loads(out.output)}
    assert rows["2026-01-10"] == {
        "day": "2026-01-10",
        "kind": "work",
        "from": "bundled",
        "legal_basis": "Công văn 12729/VPCP-KGVX (25/12/2025)",
    }
    assert rows["2026-11-24"]["from"] == "library (unconfirmed)"


def _dossier(code: str, received: str, due: str, center: str = "000.00.31.H92") -> Dossier:
    from hopnhat.store.models import Dossier, Status

    return Dossier(
        code=code,
        province_code="92",
        procedure_code="1.001234",
        status=int(Status.IN_PROCESS),
        received_at=vn(received),
        due_at=vn(due),
        center_code=center,
        applicant_id_number="092123456789",
    )


def test_a_day_off_inside_a_supplement_pause_moves_nothing_and_one_after_it_moves_a_day(db: Session) -> None:
    session = db
    from hopnhat.settlement import calendar_edits
    from hopnhat.store.models import ProcessingStep, Status

    # Received Mon 14/12 09:00 with 5 days; the clock stopped Wed 16 09:00 - Fri 18 09:00 (16 working hours), so the
    # due date went from Mon 21 09:00 to Wed 23 09:00.
    d = _dossier("H92-CAL-PAUSE", "2026-12-14 09:00", "2026-12-23 09:00")
    session.add(d)
    for seq, (at, a, b) in enumerate(
        [("2026-12-16 09:00", Status.IN_PROCESS, Status.SUPPLEMENT_REQUESTED), ("2026-12-18 09:00", 5, 4)], 1
    ):
        session.add(ProcessingStep(dossier=d, seq=seq, at=vn(at), actor="t", from_status=int(a), to_status=int(b)))
    session.flush()
    admin = principal(Role.ADMINISTRATOR)
    inside = calendar_edits.edit_day(session, datetime(2026, 12, 17).date(), "off", "thử", principal=admin)
    assert inside.reviews == []  # the clock was stopped that day
    after = calendar_edits.edit_day(session, datetime(2026, 12, 22).date(), "off", "thử", principal=admin)
    assert [(r.code, r.proposed_due_at) for r in after.reviews] == [("H92-CAL-PAUSE", vn("2026-12-24 09:00"))]
    assert d.due_at == vn("2026-12-23 09:00")  # listed, not moved


def test_move_keep_and_all_are_audited_and_a_move_is_a_step(db: Session) -> None:
    session = db
    from hopnhat.errors import NotFound
    from hopnhat.identity.models import AuditEntry
    from hopnhat.settlement import calendar_edits
    from hopnhat.settlement.calendar_edits import Decision

    a = _dossier("H92-CAL-A", "2026-12-21 09:00", "2026-12-28 09:00")
    b = _dossier("H92-CAL-B", "2026-12-22 09:00", "2026-12-29 09:00")
    c = _dossier("H92-CAL-C", "2026-12-23 09:00", "2026-12-30 09:00", center="000.00.32.H92")
    session.add_all([a, b, c])
    session.flush()
    admin = principal(Role.ADMINISTRATOR)
    edit = calendar_edits.edit_day(session, datetime(2026, 12, 24).date(), "off", "Quyết định thử", principal=admin)
    assert {r.code for r in edit.reviews} == {"H92-CAL-A", "H92-CAL-B", "H92-CAL-C"}
    officer = principal(Role.CENTER_OFFICER, centers=["000.00.31.H92"])
    assert [r.code for r in calendar_edits.reviews(session, officer)] == ["H92-CAL-A", "H92-CAL-B"]
    with pytest.raises(NotFound):  # another center's dossier: as if it did not exist
        calendar_edits.decide(session, "H92-CAL-C", Decision.MOVE, principal=officer)

    moved = calendar_edits.decide(session, "H92-CAL-A", Decision.MOVE, principal=officer)
    assert moved.state == "moved" and a.due_at == vn("2026-12-29 09:00")
    assert a.steps[-1].due_at == vn("2026-12-29 09:00") and a.steps[-1].to_status == a.status
    kept = calendar_edits.decide(session, "H92-CAL-B", Decision.KEEP, principal=officer)
    assert kept.state == "kept" and b.due_at == vn("2026-12-29 09:00") and b.steps == []
    assert calendar_edits.reviews(session, officer) == []
    rest = calendar_edits.decide_all(session, Decision.MOVE, principal=admin)
    assert [(r.code, r.state) for r in rest] == [("H92-CAL-C", "moved")] and c.due_at == vn("2026-12-31 09:00")
    decisions = session.query(AuditEntry).filter_by(action="dossier.due_decision").order_by(AuditEntry.id).all()
    assert [(e.object_id, e.changes["decision"][1]) for e in decisions] == [
        ("H92-CAL-A", "move"),
        ("H92-CAL-B", "keep"),
        ("H92-CAL-C", "move"),
    ]
    assert decisions[0].actor == officer.username
    assert decisions[0].changes["due_at"][1].startswith("2026-12-29")


def test_removing_the_row_lists_again_and_a_changed_due_date_is_superseded(db: Session) -> None:
    session = db
    from hopnhat.settlement import calendar_edits
    from hopnhat.settlement.calendar_edits import Decision

    a = _dossier("H92-CAL-R", "2026-12-21 09:00", "2026-12-28 09:00")
    session.add(a)
    session.flush()
    admin = principal(Role.ADMINISTRATOR)
    day = datetime(2026, 12, 24).date()
    assert len(calendar_edits.edit_day(session, day, "off", "thử", principal=admin).reviews) == 1
    # Removed again before anyone decided: the due date given is right again, nothing is left to decide.
    assert calendar_edits.edit_day(session, day, None, None, principal=admin).reviews == []
    assert calendar_edits.reviews(session, admin) == []
    calendar_edits.edit_day(session, day, "off", "thử", principal=admin)
    a.due_at = vn("2027-01-05 09:00")  # an extension in between
    out = calendar_edits.decide(session, "H92-CAL-R", Decision.MOVE, principal=admin)
    assert out.state == "superseded" and a.due_at == vn("2027-01-05 09:00")


def test_only_calendar_holders_edit(db: Session) -> None:
    session = db
    from hopnhat.errors import Forbidden
    from hopnhat.settlement import calendar_edits

    with pytest.raises(Forbidden):
        calendar_edits.edit_day(
            session, datetime(2026, 12, 24).date(), "off", "thử", principal=principal(Role.CENTER_OFFICER)
        )
    admin = principal(Role.ADMINISTRATOR)
    with pytest.raises(InvalidInput, match="legal basis"):
        calendar_edits.edit_day(session, datetime(2026, 12, 24).date(), "off", " ", principal=admin)
    with pytest.raises(InvalidInput, match="outside"):
        calendar_edits.edit_day(session, datetime(9999, 12, 31).date(), "off", "thử", principal=admin)


def test_the_cli_lists_and_decides_the_due_dates(tmp_path: object) -> None:
    import json

    from hopnhat.db import ensure_schema, make_engine, session_scope

    url = f"sqlite:///{tmp_path}/decide.db"
    engine = make_engine(url)
    ensure_schema(engine)
    with session_scope(engine) as s:
        s.add(_dossier("H92-CLI-1", "2026-12-21 09:00", "2026-12-28 09:00"))
        s.add(_dossier("H92-CLI-2", "2026-12-22 09:00", "2026-12-29 09:00"))
    run = CliRunner().invoke
    try:
        assert run(cli, ["--db", url, "calendar", "days", "add", "2026-12-24", "--kind", "off"]).exit_code == 0
        listed = run(cli, ["--db", url, "calendar", "dossiers", "--pending", "--json"])
        assert [(r["code"], r["proposed_due_at"][:16]) for r in json.loads(listed.output)] == [
            ("H92-CLI-1", "2026-12-29T02:00"),  # 09:00 in Vietnam
            ("H92-CLI-2", "2026-12-30T02:00"),
        ]
        neither = run(cli, ["--db", url, "calendar", "decide", "H92-CLI-1"])
        assert neither.exit_code != 0 and "--move" in neither.output
        moved = run(cli, ["--db", url, "calendar", "decide", "H92-CLI-1", "--move", "--json"])
        assert json.loads(moved.output)[0]["state"] == "moved"
        kept = run(cli, ["--db", url, "calendar", "decide", "--all", "--keep", "--json"])
        assert [(r["code"], r["state"]) for r in json.loads(kept.output)] == [("H92-CLI-2", "kept")]
        assert json.loads(run(cli, ["--db", url, "calendar", "dossiers", "--pending", "--json"]).output) == []
        with Session(engine) as s:
            dues = dict(s.query(Dossier.code, Dossier.due_at).all())
        assert dues == {"H92-CLI-1": vn("2026-12-29 09:00"), "H92-CLI-2": vn("2026-12-29 09:00")}
    finally:
        engine.dispose()
