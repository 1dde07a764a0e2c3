"""The transition plan: overdue and at-risk tasks, CSV import."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy.orm import Session

from hopnhat.continuity import plan
from hopnhat.errors import InvalidInput
from hopnhat.sync import cutover
from hopnhat.sync.models import CutoverVerdict

CSV = """code,title,responsible_unit,deadline,status,depends_on,cutover_source
T4,Tắt hệ thống cũ,VP UBND,2025-08-31,todo,T2;T3,
T1,Kiểm kê,Sở KH&CN,2025-06-15,done,,
T2,Chuyển hồ sơ Sóc Trăng,Sở KH&CN,2025-06-30,in_progress,T1,soctrang
T3,Ban hành quy chế,VP UBND,2025-07-10,todo,,
"""


def _flags(db: Session, today: date, horizon: int = 7) -> dict[str, tuple[bool, bool]]:
    return {t["code"]: (t["overdue"], t["at_risk"]) for t in plan.evaluate(db, today, horizon)}


def test_overdue_and_at_risk(db: Session) -> None:
    assert plan.import_csv(db, CSV) == 4
    # T2's source is ready to cut over, so only deadlines and dependencies count here.
    _record_verdict(db, "soctrang", [], datetime(2025, 5, 1, tzinfo=UTC))
    flags = _flags(db, date(2025, 7, 5))
    assert flags["T1"] == (False, False)  # done
    assert flags["T2"] == (True, False)  # past its deadline
    assert flags["T3"] == (False, True)  # due within 7 days
    assert flags["T4"] == (False, True)  # far away, but depends on the late T2
    assert [t["code"] for t in plan.overdue(db, date(2025, 7, 5))] == ["T2"]
    assert [t["code"] for t in plan.at_risk(db, date(2025, 6, 1))] == []
    plan.set_status(db, "T2", "done", date(2025, 7, 6))
    flags = _flags(db, date(2025, 7, 7))
    assert flags["T2"] == (False, False) and flags["T4"] == (False, False)
    assert next(t for t in plan.evaluate(db, date(2025, 7, 7)) if t["code"] == "T4")["depends_on"] == ["T2", "T3"]


def _record_verdict(db: Session, source: str, reasons: list[str], at: datetime) -> None:
    """What ``cutover check`` records (the check itself reads the legacy sources: tested with them in tests/sync
    and end to end by the demo test)."""
    db.add(CutoverVerdict(source=source, ready=not reasons, reasons=reasons, checked_at=at))
    db.flush()


def test_latest_recorded_verdict_is_the_one_shown(db: Session) -> None:
    assert cutover.verdict(db, "soctrang") is None
    first = datetime(2025, 6, 20, 1, 0, tzinfo=UTC)
    _record_verdict(db, "soctrang", ["3 quarantined records not resolved"], first)
    _record_verdict(db, "haugiang", [], first)
    _record_verdict(db, "soctrang", [], first + timedelta(hours=2))
    latest = cutover.verdict(db, "soctrang")
    assert latest is not None
    assert latest["ready"] is True and latest["reasons"] == []
    assert latest["checked_at"] == first + timedelta(hours=2)  # aware, so a page can say how old it is
    assert [(v["source"], v["ready"]) for v in cutover.latest_verdicts(db)] == [("haugiang", True), ("soctrang", True)]


def test_task_linked_to_a_source_not_ready_is_at_risk_with_the_verdicts_reason(db: Session) -> None:
    plan.import_csv(db, CSV)
    today = date(2025, 6, 1)  # far from T2's deadline: only the cut-over can put it at risk

    def t2() -> dict[str, Any]:
        return next(t for t in plan.evaluate(db, today) if t["code"] == "T2")

    never = t2()
    assert never["cutover"] is None and never["at_risk"] and never["cutover_blocked"]
    assert any("soctrang: no verdict yet" in r for r in never["reasons"])

    checked = datetime(2025, 6, 1, 2, 30, tzinfo=UTC)
    _record_verdict(db, "soctrang", ["3 quarantined records not resolved", "sync lag above 60 minutes"], checked)
    blocked = t2()
    assert blocked["at_risk"] and blocked["cutover_blocked"] and not blocked["overdue"]
    assert blocked["cutover"]["ready"] is False and blocked["cutover"]["checked_at"] == checked
    assert (
        "cut-over of soctrang not ready (checked 01/06/2025 09:30): "
        "3 quarantined records not resolved; sync lag above 60 minutes"
    ) in blocked["reasons"]
    # T3 has no linked source: the verdict does not touch it.
    assert next(t for t in plan.evaluate(db, today) if t["code"] == "T3")["cutover"] is None

    _record_verdict(db, "soctrang", [], checked + timedelta(hours=1))
    ready = t2()
    assert ready["cutover"]["ready"] is True
    assert not ready["at_risk"] and not ready["cutover_blocked"] and ready["reasons"] == []

    _record_verdict(db, "soctrang", ["1 quarantined records not resolved"], checked + timedelta(hours=2))
    plan.set_status(db, "T2", "done", today)
    done = t2()  # a finished task is not held back by a later verdict
    assert not done["at_risk"] and not done["cutover_blocked"] and done["cutover"]["ready"] is False


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("code,title,deadline\nX1,Một việc,31/13/2025\n", "line 2 (task X1)"),
        ("code,title,deadline,depends_on\nX1,Một việc,2025-07-01,X9\n", "unknown task 'X9'"),
        ("code,title,deadline,status\nX1,Một việc,2025-07-01,maybe\n", "line 2 (task X1)"),
    ],
)
def test_bad_csv_names_the_row(db: Session, text: str, message: str) -> None:
    with pytest.raises(InvalidInput, match=message.replace("(", r"\(").replace(")", r"\)")):
        plan.import_csv(db, text)
