"""The workflow table, driven from its data: every allowed move succeeds, every other one is refused; the reasons
and items the rules require; the clock a supplement stops and restarts; hand-off and ownership."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta

import pytest
from sqlalchemy.orm import Session

from hopnhat.config import VN_TZ
from hopnhat.errors import InvalidInput, InvalidTransition, NotFound
from hopnhat.identity.roles import Role
from hopnhat.settlement import service
from hopnhat.settlement.calendar import WorkCalendar
from hopnhat.settlement.schemas import ActionIn
from hopnhat.settlement.workflow import ACTIONS, ALLOWED, FINAL, Action, act, available, transition
from hopnhat.store.models import Dossier, Status
from tests.identity_support import add_account, principal
from tests.settlement.test_dossiers import NINH_KIEU, OFFICER, intake, vn

CAL = WorkCalendar()
_codes = itertools.count(1)
NOW = vn(2026, 3, 2, 9, 0)


def _dossier(db: Session, status: Status, **extra: object) -> Dossier:
    d = Dossier(
        code=f"T-{next(_codes):05d}",
        province_code="92",
        procedure_code="1.001193",
        status=int(status),
        received_at=NOW - timedelta(days=1),
        due_at=NOW + timedelta(days=3),
        center_code=NINH_KIEU,
        clock_paused_at=NOW - timedelta(hours=2) if status is Status.SUPPLEMENT_REQUESTED else None,
        **extra,
    )
    db.add(d)
    db.flush()
    return d


def _complete(action: Action) -> ActionIn:
    """Everything any action may need, so only the table decides."""
    return ActionIn(
        action=action.value,
        note="Thư xin lỗi số 01",
        reason="Hồ sơ không thuộc thẩm quyền giải quyết",
        items=["Bản sao giấy chứng sinh"],
        holder_unit="000.00.80.H13",
        new_due_at=NOW + timedelta(days=10),
        returned_to="Người nộp",
        return_method="at_counter",
    )


def test_every_allowed_action_succeeds_and_every_other_is_refused(sdb: Session) -> None:
    tried = 0
    for action, rule in ACTIONS.items():
        for status in Status:
            d = _dossier(sdb, status)
            steps = len(d.steps)
            if status in rule.sources:
                act(sdb, d, _complete(action), actor="cb", at=NOW, calendar=CAL)
                assert d.status == int(rule.target or status), (action, status)
                assert len(d.steps) == steps + 1 and d.steps[-1].action == action.value
            else:
                with pytest.raises(InvalidTransition):
                    act(sdb, d, _complete(action), actor="cb", at=NOW, calendar=CAL)
                assert (d.status, len(d.steps)) == (int(status), steps), (action, status)
            tried += 1
    assert tried == len(Action) * len(Status)


def test_every_status_move_in_the_table_succeeds_and_every_other_is_refused(sdb: Session) -> None:
    for frm, to in itertools.product(Status, Status):
        d = _dossier(sdb, frm)
        due = NOW + timedelta(days=10)
        if to in ALLOWED[frm]:
            transition(sdb, d, to, actor="cb", at=NOW, calendar=CAL, note="Lý do; bản sao", new_due_at=due)
            assert d.status == int(to)
        else:
            with pytest.raises(InvalidTransition):
                transition(sdb, d, to, actor="cb", at=NOW, calendar=CAL, note="Lý do", new_due_at=due)
            assert d.status == int(frm)


def test_returned_refused_withdrawn_and_stopped_are_final() -> None:
    assert {Status.RETURNED, Status.REFUSED, Status.WITHDRAWN, Status.STOPPED} == FINAL
    for status in FINAL:
        assert available(status) == [] and ALLOWED[status] == frozenset()
    assert Status.IN_PROCESS not in ALLOWED[Status.RETURNED]


@pytest.mark.parametrize("reason", [None, "", "   "])
def test_a_refusal_without_a_reason_is_refused(sdb: Session, reason: str | None) -> None:
    code = intake(sdb)
    with pytest.raises(InvalidInput, match="needs a reason"):
        service.act_on(sdb, code, ActionIn(action="refuse", reason=reason), principal=OFFICER, calendar=CAL)
    with pytest.raises(InvalidInput, match="needs a reason"):
        service.change_status(sdb, code, "refused", actor="cb", calendar=CAL, note=reason)
    d = service.get_dossier(sdb, code)
    assert (d.status, d.refused_at, len(d.steps)) == (Status.RECEIVED, None, 1)


def test_a_refusal_with_its_reason_is_final_and_public(sdb: Session) -> None:
    code = intake(sdb)
    reason = "Hồ sơ không thuộc thẩm quyền giải quyết của xã"
    at = vn(2026, 3, 2, 9, 0)
    service.act_on(sdb, code, ActionIn(action="refuse", reason=reason), principal=OFFICER, calendar=CAL, at=at)
    d = service.get_dossier(sdb, code)
    assert (d.status, d.refused_at) == (Status.REFUSED, at)
    public = service.public_view(sdb, code.lower())  # found in any letter case
    assert (public.status, public.reason) == (3, reason)


def test_a_supplement_stops_the_clock_and_restarts_it_exactly(sdb: Session) -> None:
    code = intake(sdb, procedure_code="MAU-001")  # 1 working day from Mon 2 March 07:30: due 17:30
    service.act_on(sdb, code, ActionIn(action="start"), principal=OFFICER, calendar=CAL, at=vn(2026, 3, 2, 9, 0))
    items = ["Bản sao giấy chứng sinh có chứng thực", "Tờ khai ký đủ"]
    asked = ActionIn(action="request_supplement", items=items)
    service.act_on(sdb, code, asked, principal=OFFICER, calendar=CAL, at=vn(2026, 3, 2, 10, 0))
    d = service.get_dossier(sdb, code)
    assert d.clock_paused_at == vn(2026, 3, 2, 10, 0) and d.status == Status.SUPPLEMENT_REQUESTED
    public = service.public_view(sdb, code)
    assert public.supplement_items == items
    # Wed 14:15: Mon 10:00-11:30 and 13:30-17:30 (5.5 h), Tue (8 h), Wed 07:30-11:30 and 13:30-14:15 (4.75 h).
    back = ActionIn(action="supplement_received")
    _, step = service.act_on(sdb, code, back, principal=OFFICER, calendar=CAL, at=vn(2026, 3, 4, 14, 15))
    assert step.details == {"paused_hours": 18.25}
    d = service.get_dossier(sdb, code)
    # 5.5 working hours were left at 10:00 on Monday: Wed 14:15-17:30 (3.25 h) and Thu 07:30-09:45 (2.25 h).
    assert (d.clock_paused_at, d.due_at, d.status) == (None, vn(2026, 3, 5, 9, 45), Status.IN_PROCESS)
    assert service.public_view(sdb, code).supplement_items == []


def test_a_supplement_request_lists_its_items(sdb: Session) -> None:
    code = intake(sdb)
    with pytest.raises(InvalidInput, match="at least one item"):
        service.act_on(sdb, code, ActionIn(action="request_supplement", items=[" "]), principal=OFFICER, calendar=CAL)


def test_hand_off_gives_the_dossier_a_holder_and_hand_back_takes_it_back(sdb: Session) -> None:
    code = intake(sdb)
    clerk = add_account(sdb, Role.CENTER_OFFICER, centers=[NINH_KIEU])
    unit = "000.00.03.H13"  # Sở Tư pháp
    processor = principal(Role.PROCESSING_OFFICER, units=[unit])
    with pytest.raises(NotFound):
        service.get_dossier(sdb, code, processor)
    with pytest.raises(InvalidInput, match="names the unit or the officer"):
        service.act_on(sdb, code, ActionIn(action="hand_off"), principal=OFFICER, calendar=CAL)
    with pytest.raises(NotFound, match="no agency"):
        service.act_on(
            sdb, code, ActionIn(action="hand_off", holder_unit="000.00.99.H13"), principal=OFFICER, calendar=CAL
        )
    with pytest.raises(NotFound, match="no officer"):
        service.act_on(
            sdb, code, ActionIn(action="hand_off", holder_username="nobody"), principal=OFFICER, calendar=CAL
        )
    service.act_on(
        sdb, code, ActionIn(action="hand_off", holder_unit=unit, note="Chuyển phòng"), principal=OFFICER, calendar=CAL
    )
    d = service.get_dossier(sdb, code, processor)  # the unit sees what it holds
    assert (d.status, d.holder_unit_code) == (Status.IN_PROCESS, unit)
    service.act_on(sdb, code, ActionIn(action="hand_back", note="Đã thẩm định"), principal=processor, calendar=CAL)
    with pytest.raises(NotFound):
        service.get_dossier(sdb, code, processor)
    service.act_on(sdb, code, ActionIn(action="hand_off", holder_username=clerk), principal=OFFICER, calendar=CAL)
    d = service.get_dossier(sdb, code)
    assert (d.holder_unit_code, d.holder_username) == (None, clerk)
    assert [s.action for s in d.steps] == ["receive", "hand_off", "hand_back", "hand_off"]


def test_another_centers_officer_can_neither_see_nor_act(sdb: Session) -> None:
    code = intake(sdb)
    other = principal(Role.CENTER_OFFICER, centers=["001.02.99.H13"])
    with pytest.raises(NotFound):
        service.act_on(sdb, code, ActionIn(action="start"), principal=other, calendar=CAL)
    assert service.get_dossier(sdb, code).status == Status.RECEIVED


def test_the_first_action_on_a_migrated_dossier_makes_it_owned_here(sdb: Session) -> None:
    d = _dossier(sdb, Status.IN_PROCESS, origin="migrated")
    assert d.owned_here_at is None
    at = datetime(2026, 3, 2, 10, 0, tzinfo=VN_TZ)
    act(sdb, d, ActionIn(action="finish"), actor="cb", at=at, calendar=CAL)
    assert d.owned_here_at == at


def test_catalogue_lists_documents_fees_and_receiving_centers(sdb: Session) -> None:
    from hopnhat.settlement import catalog

    proc = service.repo.procedure(sdb, "1.001193")
    assert proc is not None and [d["code"] for d in proc.required_documents or []] == ["TP1", "TP2", "TP3"]
    assert proc.fee_items == [{"name": "Lệ phí đăng ký khai sinh đúng hạn", "amount": 0}]
    # The structured columns survive a CSV round trip (JSON in the cell).
    text = catalog.export_catalog(sdb, "csv")
    assert catalog.import_catalog(sdb, text, "csv") >= 6
    assert service.repo.procedure(sdb, "MAU-001").receiving_centers == ["commune"]  # type: ignore[union-attr]
    with pytest.raises(InvalidInput, match="not JSON"):
        catalog.import_catalog(sdb, "code,name,level,required_documents\nX,Y,commune,[oops\n", "csv")


def test_intake_warns_but_never_refuses_on_papers_documents_or_address(sdb: Session) -> None:
    from hopnhat.settlement.schemas import IntakeIn

    data = IntakeIn(
        procedure_code="1.001193",
        channel=1,
        applicant_name="Lê Văn A",
        applicant_id_number="12345",
        applicant_id_type="cccd",
        applicant_email="not-an-email",
        applicant_address="Phường 1, Cần Thơ",  # ambiguous: several former Phường 1
        documents=["TP1"],
        route_to_receiving_center=True,
    )
    d, warnings = service.receive(sdb, data, CAL, principal=OFFICER, at=vn(2026, 3, 2, 8, 0))
    text = " | ".join(warnings)
    assert "12 digits" in text and "e-mail" in text and "TP2" in text and "receiving center" in text
    assert d.center_code == NINH_KIEU and d.applicant_id_type == "cccd" and d.applicant_email == "not-an-email"
    assert d.extra is not None and d.extra["documents"][0]["code"] == "TP1"
    proc = service.repo.procedure(sdb, "1.001193")
    assert proc is not None
    from hopnhat.store.models import Channel

    assert service.due_preview(proc, Channel.IN_PERSON, CAL, vn(2026, 3, 2, 8, 0)) == d.due_at
