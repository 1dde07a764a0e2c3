from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from hopnhat.errors import InvalidInput
from hopnhat.registry.loader import load_bundled, parse_change_set
from hopnhat.registry.models import ChangeEvent, LineageLink, Unit


def test_bundled_load_counts(rdb: Session) -> None:
    def count(*where: object) -> int:
        return rdb.scalar(select(func.count()).select_from(Unit).where(*where)) or 0

    assert count(Unit.level == "commune", Unit.valid_from == date(2025, 7, 1)) == 3_321
    assert count(Unit.level == "commune", Unit.valid_to == date(2025, 6, 30)) == 10_035
    assert count(Unit.level == "district") == 696
    assert count(Unit.level == "province", Unit.valid_to == date(2025, 6, 30)) == 63
    assert count(Unit.level == "province", Unit.valid_from == date(2025, 7, 1)) == 34
    # 10,565 commune links, 5 island districts, 63 provinces, and the 13 edges of the later change sets.
    assert (
        rdb.scalar(select(func.count()).select_from(LineageLink).where(LineageLink.to_unit_id.is_not(None)))
        == 10_565 + 5 + 63 + 13
    )
    kinds = dict(rdb.execute(select(ChangeEvent.kind, func.count()).group_by(ChangeEvent.kind)).all())
    assert kinds["split"] == 440
    assert kinds["level_abolished"] == 1
    later = dict(
        rdb.execute(
            select(ChangeEvent.kind, func.count())
            .where(ChangeEvent.effective_date > date(2025, 7, 1))
            .group_by(ChangeEvent.kind)
        ).all()
    )
    assert later == {"type_change": 13}  # three provinces made cities, ten communes made wards


def test_load_is_idempotent(rdb: Session) -> None:
    before = rdb.scalar(select(func.count()).select_from(Unit))
    report = load_bundled(rdb)
    assert (report.units_added, report.links_added, report.events_added, report.units_closed) == (0, 0, 0, 0)
    assert rdb.scalar(select(func.count()).select_from(Unit)) == before


def test_code_31120_reused(rdb: Session) -> None:
    units = rdb.scalars(select(Unit).where(Unit.code == "31120").order_by(Unit.valid_from)).all()
    assert [(u.name, u.valid_to) for u in units] == [
        ("Phường An Hòa", date(2025, 6, 30)),
        ("Phường Cái Khế", None),
    ]


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("a,b\n1,2\n", "missing column"),
        (
            "old_commune_code,old_commune_name,old_district_code,old_province_code,new_commune_code,"
            "new_commune_name,kind\n31120,Phường Cái Khế,,92,3112,Phường X,whole\n",
            "line 2: new_code '3112' is not a 2-digit province, 3-digit district or 5-digit commune code",
        ),
        (
            "old_commune_code,old_commune_name,old_district_code,old_province_code,new_commune_code,"
            "new_commune_name,kind\n31120,Phường Cái Khế,,92,31120,Phường X,merged\n",
            "kind 'merged'",
        ),
    ],
)
def test_malformed_change_set_refused(text: str, reason: str) -> None:
    with pytest.raises(InvalidInput, match=reason):
        parse_change_set(text, effective=date(2026, 4, 30), legal_basis="NQ test")
