"""What normalisation makes of the simulators' faults, one record at a time (the registry is needed to remap)."""

from __future__ import annotations

from datetime import date, datetime

import pytest
from sqlalchemy.orm import Session

from hopnhat.legacy.record import mojibake
from hopnhat.sync.connectors.base import RawRecord
from hopnhat.sync.engine import SourceContext, normalise
from hopnhat.sync.remap import Remapper

CLEAN = {
    "code": "000.00.31.H51-240102-0001",
    "procedure_code": "1.001193",
    "procedure_name": "Đăng ký khai sinh",
    "applicant_name": "Nguyễn Văn An",
    "applicant_address": "Ấp 1, Xã Phú Tân, Huyện Châu Thành, Tỉnh Sóc Trăng",
    "status": 10,
    "channel": 1,
    "applicant_type": 1,
    "received_at": "2024-01-02 08:00:00",
    "due_at": "2024-01-03 16:30:00",
    "returned_at": "2024-01-03 10:00:00",
    "unit": "31582",
    "agency_code": "000.01.31.H51",
}


def _context(session: Session, province: str = "94") -> SourceContext:
    return SourceContext("test", province, Remapper(session, date(2026, 1, 1)), None)


def _record(**fields: object) -> RawRecord:
    values = {**CLEAN, **fields}
    return RawRecord(str(values["code"]), datetime(2024, 1, 3, 10), dict(values), values)


def test_a_clean_record_loads(rdb: Session) -> None:
    prepared = normalise(_context(rdb), _record())
    assert prepared.reasons == [] and prepared.values is not None


@pytest.mark.parametrize("name", ["Nguyễn Văn An", "Trần Thị Hạnh", "Đỗ Minh Tuấn", "Lý Bích Yến", "Võ Hữu Phúc"])
def test_mojibake_names_are_wrong_encoding(rdb: Session, name: str) -> None:
    prepared = normalise(_context(rdb), _record(applicant_name=mojibake(name)))
    assert "wrong encoding in applicant_name" in prepared.reasons


@pytest.mark.xfail(
    strict=True,
    reason="sync bug: engine._MOJIBAKE misses the UTF-8-as-cp1252 forms of ũ Ũ Ơ Ư Á Í Ý ('Å©', 'Å¨', 'Æ\\xa0', "
    "'Æ¯', 'Ã\\ufffd'), so a name like 'Phan Minh Dũng' read with the wrong encoding loads as clean text",
)
@pytest.mark.parametrize("name", ["Phan Minh Dũng", "Danh Kim Dũng"])
def test_mojibake_of_every_vietnamese_letter_is_wrong_encoding(rdb: Session, name: str) -> None:
    prepared = normalise(_context(rdb), _record(applicant_name=mojibake(name)))
    assert "wrong encoding in applicant_name" in prepared.reasons


@pytest.mark.xfail(
    strict=True,
    reason="sync bug: Remapper.code_for_name drops the province part of a unit name and falls back to the "
    "source's own province, so 'X. Phú Tân, H. Châu Thành, Tỉnh Sóc Trăng' in Hậu Giang's export (a transferred "
    "dossier) is mapped to Hậu Giang's 31379 instead of Sóc Trăng's 31582",
)
def test_a_unit_name_with_another_province_maps_into_that_province(rdb: Session) -> None:
    record = _record(unit="X. Phú Tân, H. Châu Thành, Tỉnh Sóc Trăng", unit_is_name=True)
    prepared = normalise(_context(rdb, province="93"), record)
    assert prepared.values is not None and prepared.values["original_unit_code"] == "31582"


def test_a_unit_name_of_the_own_province_maps_into_it(rdb: Session) -> None:
    prepared = normalise(_context(rdb, province="93"), _record(unit="X. Phú Tân, H. Châu Thành", unit_is_name=True))
    assert prepared.values is not None and prepared.values["original_unit_code"] == "31379"
