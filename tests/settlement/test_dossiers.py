"""Intake, routing, the workflow, the clock and the public view, on SQLite and PostgreSQL."""

from __future__ import annotations

import logging
from datetime import date, datetime

import pytest
import time_machine
from sqlalchemy import select
from sqlalchemy.orm import Session

from hopnhat.config import VN_TZ
from hopnhat.errors import Conflict, InvalidInput, InvalidTransition, NotFound
from hopnhat.identity.roles import Role
from hopnhat.settlement import service
from hopnhat.settlement.calendar import WorkCalendar
from hopnhat.settlement.schemas import IntakeIn
from hopnhat.store.models import OutboxEvent, Status
from tests.identity_support import principal

CAL = WorkCalendar()
NAME = "Nguyễn Văn Bình"
ID_NUMBER = "092085001234"
PHONE = "0909123456"
OLD_ADDRESS = "12 Mậu Thân, Phường Xuân Khánh, Quận Ninh Kiều, Thành phố Cần Thơ"
NINH_KIEU = "001.02.60.H13"
"""The service center of Phường Ninh Kiều, where the officer of these tests receives dossiers."""
OFFICER = principal(Role.CENTER_OFFICER, centers=[NINH_KIEU], username="cb.nk01")


def vn(*args: int) -> datetime:
    return datetime(*args, tzinfo=VN_TZ)  # type: ignore[misc]


def intake(db: Session, *, at: datetime | None = vn(2026, 3, 2, 7, 30), **kw: object) -> str:
    """Receive the test dossier as ``OFFICER``, at ``at`` (the service's clock for tests: not a field of the data)."""
    data: dict[str, object] = {
        "procedure_code": "1.001193",
        "channel": 1,
        "applicant_name": NAME,
        "applicant_id_number": ID_NUMBER,
        "applicant_phone": PHONE,
        "applicant_address": OLD_ADDRESS,
    }
    data.update(kw)
    return service.intake(db, IntakeIn.model_validate(data), CAL, principal=OFFICER, at=at).code


def test_old_address_goes_to_the_new_commune_center(sdb: Session) -> None:
    code = intake(sdb)
    d = service.get_dossier(sdb, code)
    assert d.unit_code == "31135"  # Phường Xuân Khánh is now part of Phường Ninh Kiều
    assert d.center_code is not None and code.startswith(f"{d.center_code}-260302-0001")
    assert d.due_at == vn(2026, 3, 2, 17, 30)  # 1 working day from the opening
    assert d.received_center_code == NINH_KIEU  # received at the officer's center, who signs the first step
    assert [(s.seq, s.actor, s.at) for s in d.steps] == [(1, OFFICER.username, vn(2026, 3, 2, 7, 30))]
    assert sdb.scalar(select(OutboxEvent.kind).where(OutboxEvent.dossier_code == code)) == "dossier"


def test_intake_takes_the_time_from_the_server_clock(sdb: Session) -> None:
    with time_machine.travel(vn(2026, 3, 3, 8, 15), tick=False):
        code = intake(sdb, at=None)
    d = service.get_dossier(sdb, code)
    assert d.received_at == vn(2026, 3, 3, 8, 15) and d.steps[0].at == d.received_at
    assert code.startswith(f"{d.center_code}-260303-")


def test_codes_count_per_agency_and_day(sdb: Session) -> None:
    first, second = intake(sdb), intake(sdb)
    other_day = intake(sdb, at=vn(2026, 3, 3, 7, 30))
    assert (first[-4:], second[-4:], other_day[-4:]) == ("0001", "0002", "0001")


def test_ambiguous_address_asks_the_officer(sdb: Session) -> None:
    with pytest.raises(Conflict, match="choose the commune"):
        intake(sdb, applicant_address="Phường 1, Cần Thơ")
    assert intake(sdb, applicant_address="Phường 1, Cần Thơ", commune_code="31510")


def test_city_level_goes_to_the_provincial_center(sdb: Session) -> None:
    code = intake(sdb, procedure_code="MAU-004", applicant_address=None)
    assert code.startswith("000.00.20.H13-")


def test_unknown_procedure_and_district_level_are_refused(sdb: Session) -> None:
    with pytest.raises(NotFound):
        intake(sdb, procedure_code="9.999999")
    with pytest.raises(InvalidInput, match="relevel"):
        intake(sdb, procedure_code="MAU-002")


def test_valid_transitions_record_steps_and_outbox_events(sdb: Session) -> None:
    code = intake(sdb)
    for to in ("in_process", "finished", "10"):
        service.change_status(sdb, code, to, actor="cb.tn01", calendar=CAL, at=vn(2026, 3, 2, 10, 0))
    d = service.get_dossier(sdb, code)
    assert d.status == Status.RETURNED and d.finished_at is not None
    assert [(s.from_status, s.to_status, s.actor) for s in d.steps][1:] == [
        (2, 4, "cb.tn01"),
        (4, 9, "cb.tn01"),
        (9, 10, "cb.tn01"),
    ]
    kinds = sdb.scalars(select(OutboxEvent.kind).where(OutboxEvent.dossier_code == code).order_by(OutboxEvent.seq))
    assert list(kinds) == ["dossier", "step", "step", "step"]


@pytest.mark.parametrize(("path", "bad"), [((), "returned"), (("in_process", "withdrawn"), "in_process"), ((), "99")])
def test_invalid_transitions_are_refused_and_change_nothing(sdb: Session, path: tuple[str, ...], bad: str) -> None:
    code = intake(sdb)
    for to in path:
        service.change_status(sdb, code, to, actor="cb", calendar=CAL)
    before = service.get_dossier(sdb, code).status
    with pytest.raises((InvalidTransition, InvalidInput)):
        service.change_status(sdb, code, bad, actor="cb", calendar=CAL)
    assert service.get_dossier(sdb, code).status == before


def test_supplement_request_pauses_the_clock(sdb: Session) -> None:
    code = intake(sdb, procedure_code="MAU-001")  # 1 working day: due Mon 2 March 17:30
    service.change_status(sdb, code, 4, actor="cb", calendar=CAL, at=vn(2026, 3, 2, 9, 0))
    service.change_status(sdb, code, 5, actor="cb", calendar=CAL, at=vn(2026, 3, 2, 10, 0), note="thiếu bản sao")
    d = service.get_dossier(sdb, code)
    assert d.clock_paused_at is not None
    # Paused through the due date: not reported overdue meanwhile.
    assert code not in [i.code for i in service.overdue(sdb, vn(2026, 3, 4, 9, 0))]
    # Completed two days later at 10:00: 16 working hours passed, so the due date moves 16 working hours on.
    service.change_status(sdb, code, 4, actor="cb", calendar=CAL, at=vn(2026, 3, 4, 10, 0))
    d = service.get_dossier(sdb, code)
    assert d.clock_paused_at is None
    assert d.due_at == vn(2026, 3, 4, 17, 30)
    assert code in [i.code for i in service.overdue(sdb, vn(2026, 3, 5, 9, 0))]


def test_extension_needs_apology_slip_and_a_later_date(sdb: Session) -> None:
    code = intake(sdb)
    service.change_status(sdb, code, 4, actor="cb", calendar=CAL)
    with pytest.raises(InvalidInput):
        service.change_status(sdb, code, 4, actor="cb", calendar=CAL, due_at=vn(2026, 3, 10, 17, 0))
    service.change_status(
        sdb, code, 4, actor="cb", calendar=CAL, due_at=vn(2026, 3, 10, 17, 0), note="Phiếu xin lỗi số 12"
    )
    assert service.get_dossier(sdb, code).due_at == vn(2026, 3, 10, 17, 0)


@pytest.mark.parametrize("final", ["withdrawn", "refused"])
def test_ending_states_are_final(sdb: Session, final: str) -> None:
    code = intake(sdb)
    service.change_status(sdb, code, final, actor="cb", calendar=CAL, note="Hồ sơ không thuộc thẩm quyền")
    with pytest.raises(InvalidTransition):
        service.change_status(sdb, code, "in_process", actor="cb", calendar=CAL)


def test_public_view_and_logs_carry_no_personal_data(sdb: Session, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    code = intake(sdb)
    service.change_status(sdb, code, 4, actor="Trần Thị Cán Bộ", calendar=CAL, note=f"gọi {PHONE}")
    public = service.public_view(sdb, code)
    view = public.model_dump_json()
    for secret in (NAME, ID_NUMBER, PHONE, "Mậu Thân", "Xuân Khánh", "Trần Thị", "N***", "B***"):
        assert secret not in view
        assert secret not in caplog.text
    assert "applicant" not in view
    # What the citizen does see: status, unit, and the steps in order.
    assert (public.status, public.handling_unit) == (4, service.get_dossier(sdb, code).center_code)
    assert [(s.from_status, s.to_status, s.actor, s.note) for s in public.steps] == [
        (None, 2, None, None),
        (2, 4, None, None),
    ]
    with pytest.raises(NotFound, match="no dossier"):
        service.public_view(sdb, "NOPE-1")


def test_public_view_of_a_dossier_without_steps(sdb: Session) -> None:
    """Migrated dossiers may arrive without a processing history: the lookup still finds them."""
    code = intake(sdb)
    d = service.get_dossier(sdb, code)
    for step in list(d.steps):
        sdb.delete(step)
    sdb.flush()
    public = service.public_view(sdb, f"  {code} ")
    assert public.code == code and public.steps == []


def test_due_soon_and_report(sdb: Session) -> None:
    on_time = intake(sdb, channel=2)
    late = intake(sdb)
    intake(sdb)
    service.change_status(sdb, on_time, 4, actor="cb", calendar=CAL, at=vn(2026, 3, 2, 9, 0))
    service.change_status(sdb, on_time, 9, actor="cb", calendar=CAL, at=vn(2026, 3, 2, 10, 0))
    service.change_status(sdb, late, 4, actor="cb", calendar=CAL, at=vn(2026, 3, 2, 9, 0))
    service.change_status(sdb, late, 9, actor="cb", calendar=CAL, at=vn(2026, 3, 3, 10, 0))
    soon = service.due_soon(sdb, vn(2026, 3, 2, 13, 30), CAL, hours=5)
    assert len(soon) == 1
    (row,) = service.report(sdb, date(2026, 3, 1), date(2026, 3, 31), CAL)
    assert (row.received, row.finished, row.on_time, row.late) == (3, 2, 1, 1)
    assert row.online_share == pytest.approx(1 / 3, abs=1e-3)
    assert row.synced_share == 0
    assert row.on_time_rate == 0.5
    assert service.report(sdb, date(2026, 4, 1), date(2026, 4, 2), CAL) == []


def test_bad_catalogue_and_rules_name_the_record(sdb: Session) -> None:
    from hopnhat.settlement.catalog import import_catalog, read_rules

    with pytest.raises(InvalidInput, match=r"record 2 \(X-2\): level"):
        import_catalog(sdb, "code,name,level\nX-1,Một,commune\nX-2,Hai,\n", "csv")
    with pytest.raises(InvalidInput, match="rules line 2"):
        read_rules("match,to_level\nfield:Xây dựng,district\n")
    with pytest.raises(InvalidInput, match="JSON"):
        import_catalog(sdb, "{not json", "json")
