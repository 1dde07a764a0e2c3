"""Service centers: seeding from the registry, bulk import (CSV and XLSX), readiness against deadlines."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from openpyxl import Workbook
from sqlalchemy.orm import Session

from hopnhat.continuity import centers
from hopnhat.continuity import repository as repo
from hopnhat.errors import InvalidInput
from hopnhat.registry import service as registry
from hopnhat.registry.codes import CodeRule

ISSUED_ON = date(2025, 7, 1)


def _seed(db: Session) -> None:
    assert centers.seed_centers(db) == 104
    assert centers.seed_centers(db) == 0
    centers.set_requirements(db, [("Máy tính", 2), ("Máy in", 1)])


def _by_code(db: Session, rules: centers.ReadinessRules | None = None) -> dict[str, dict[str, object]]:
    return {r["code"]: r for r in centers.readiness(db, rules)}


def test_readiness_against_deadlines(db: Session, tmp_path: Path) -> None:
    _seed(db)
    (tmp_path / "staff.csv").write_text(
        "center_code,person,source_department,role,from_date,recorded_on\n"
        "31120,Nguyễn Văn A,Sở Nội vụ,Giám đốc,2025-07-01,2025-06-28\n"
        "31135,Trần Thị B,Sở Tư pháp,Chuyên viên,2025-07-01,2025-07-02\n",
        encoding="utf-8",
    )
    (tmp_path / "reg.csv").write_text(
        "center_code,number,issued_on\n31120,01/QĐ-TTPVHCC,08/07/2025\n31135,02/QĐ-TTPVHCC,2025-07-15\n"
    )
    (tmp_path / "eq.csv").write_text("center_code,item,quantity\n31120,Máy tính,2\n31120,Máy in,1\n31135,Máy tính,1\n")
    for name in ("staff.csv", "reg.csv", "eq.csv"):
        centers.import_file(db, tmp_path / name)
    rows = _by_code(db)
    assert len(rows) == 104 and rows["92"]["level"] == "province"
    ready, late = rows["31120"], rows["31135"]
    assert ready["ready"] is True and ready["reasons"] == []
    assert (late["staff_ok"], late["regulation_ok"], late["equipment_ok"], late["ready"]) == (
        False,
        False,
        False,
        False,
    )
    assert late["missing_equipment"] == ["Máy in (0/1)", "Máy tính (1/2)"]
    assert "recorded after 2025-06-30" in "; ".join(late["reasons"])  # type: ignore[arg-type]
    assert "Trần Thị B" not in repr(late)  # staff names do not leak into readiness output
    # Deadlines are configurable: a later regulation deadline and no equipment rule make 31135's regulation pass.
    relaxed = _by_code(db, centers.ReadinessRules(date(2025, 7, 5), date(2025, 7, 31), require_equipment=False))
    assert relaxed["31135"]["ready"] is True


def test_xlsx_import_with_several_sheets(db: Session, tmp_path: Path) -> None:
    _seed(db)
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "centers"
    sheet.append(["code", "name", "address"])
    sheet.append(["31120", "Trung tâm Phục vụ hành chính công Phường Cái Khế", "1 Đại lộ Hòa Bình"])
    staff = book.create_sheet("staff")
    staff.append(["center_code", "person", "role", "from_date"])
    staff.append(["31120", "Lê Văn C", "Chuyên viên", date(2025, 6, 20)])
    path = tmp_path / "centers.xlsx"
    book.save(path)
    assert centers.import_file(db, path) == [("center", 1), ("staff", 1)]
    row = _by_code(db)["31120"]
    assert row["address"] == "1 Đại lộ Hòa Bình" and row["staff_ok"] is True


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("center_code,person,from_date\n99999,Ai Đó,2025-06-01\n", "line 2: center '99999' not found"),
        ("center_code,person,from_date\n31120,Ai Đó,hôm qua\n", "line 2 (center 31120): from_date"),
        ("center_code,item,quantity\n31120,Máy in,-1\n", "must not be negative"),
        ("foo,bar\n1,2\n", "unknown columns"),
    ],
)
def test_bad_rows_are_named_without_personal_data(db: Session, tmp_path: Path, content: str, message: str) -> None:
    _seed(db)
    path = tmp_path / "bad.csv"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(InvalidInput) as info:
        centers.import_file(db, path)
    assert message in info.value.detail and "Ai Đó" not in info.value.detail


def test_seed_after_agencies_issue_gives_every_center_its_agency_code(rdb: Session) -> None:
    # Seeded before any code is issued: the centers exist, without agency codes.
    assert centers.seed(rdb) == centers.SeedResult(created=104, linked=0, without_agency_code=104)
    registry.issue_codes(rdb, CodeRule(), issued_on=ISSUED_ON)
    # Seeding again only fills the codes in.
    assert centers.seed(rdb) == centers.SeedResult(created=0, linked=104, without_agency_code=0)
    codes = {c.code: c.agency_code for c in repo.centers(rdb)}
    assert len(codes) == 104 and len(set(codes.values())) == 104
    assert codes["92"] == registry.provincial_center(rdb, on=ISSUED_ON).code
    for commune in codes.keys() - {"92"}:
        assert codes[commune] == registry.center_for_commune(rdb, commune, ISSUED_ON).code, commune
    assert centers.seed(rdb) == centers.SeedResult(created=0, linked=0, without_agency_code=0)
    # Either code names the same center, in readiness as everywhere.
    assert [r["code"] for r in centers.readiness(rdb, code=codes["31120"])] == ["31120"]
    assert centers.readiness(rdb, code="31120")[0]["agency_code"] == codes["31120"]


def test_resolve_center_by_either_code_fills_late_codes_and_refuses_unknown(rdb: Session) -> None:
    centers.seed(rdb)
    with pytest.raises(InvalidInput, match=r"31120 .* has no agency code yet: run `hopnhat agencies issue`"):
        centers.resolve_center(rdb, "31120")
    registry.issue_codes(rdb, CodeRule(), issued_on=ISSUED_ON)
    agency_code = registry.center_for_commune(rdb, "31120", ISSUED_ON).code
    # Codes issued after the seed: naming the center by its agency code fills them in on the way.
    assert centers.resolve_center(rdb, f" {agency_code} ").code == "31120"
    assert centers.resolve_center(rdb, "31120").agency_code == agency_code
    for unknown in ("99999", "001.99.99.H13"):
        with pytest.raises(InvalidInput, match="neither the agency code nor the commune code"):
            centers.resolve_center(rdb, unknown)


def test_import_sets_an_agency_code_once(db: Session, tmp_path: Path) -> None:
    _seed(db)
    path = tmp_path / "centers.csv"
    path.write_text("code,name,agency_code\n31120,,001.01.60.H13\n", encoding="utf-8")
    assert centers.import_file(db, path) == [("center", 1)]
    assert centers.get_center(db, "001.01.60.H13").code == "31120"
    path.write_text("code,name,agency_code\n31135,,001.01.60.H13\n", encoding="utf-8")
    with pytest.raises(InvalidInput, match=r"001\.01\.60\.H13' already belongs to center 31120"):
        centers.import_file(db, path)
