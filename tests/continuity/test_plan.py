"""The transition plan: overdue and at-risk tasks, CSV import."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy.orm import Session

from hopnhat.continuity import plan
from hopnhat.errors import InvalidInput

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


def test_task_linked_to_cutover_source_tolerates_missing_verdict(db: Session) -> None:
    plan.import_csv(db, CSV)
    [t2] = [t for t in plan.evaluate(db, date(2025, 7, 1)) if t["code"] == "T2"]
    assert t2["cutover_source"] == "soctrang" and "cutover" in t2  # verdict or None when sync has none


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
