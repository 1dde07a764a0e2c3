"""Agency codes: structure, seeding, issuance by rule (never reusing a code), resolution of old codes, routing."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from hopnhat.errors import Conflict, InvalidInput, NotFound
from hopnhat.registry import service
from hopnhat.registry.codes import CodeRule, is_valid_code, load_rule, parse_code
from hopnhat.registry.models import Agency, CodeIssuance

DAY = date(2025, 7, 1)


@pytest.mark.parametrize("code", ["000.00.00.H13", "000.00.31.H28", "000.01.60.H13", "001.01.60.H13", "000.00.01.G02"])
def test_valid_codes(code: str) -> None:
    assert str(parse_code(code)) == code


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        ("", "empty"),
        ("H13", "structure"),
        ("000.00.00.h1", "structure"),
        ("00.00.00.H13", "structure"),
        ("001.00.00.H13", "level above it is zero"),
        ("000.01.00.H13", "level above it is zero"),
        ("0" * 36, "at most 35"),
        ("x" * 1_000_000, "at most 35"),
    ],
)
def test_invalid_codes(code: str, reason: str) -> None:
    with pytest.raises(InvalidInput, match=reason):
        parse_code(code)
    assert not is_valid_code(code)


def test_rule_file(tmp_path: Path) -> None:
    good = tmp_path / "rule.yaml"
    good.write_text("city_group: H99\ncommune_groups: [70, 71]\nreserved: ['000.01.70.H99']\n", encoding="utf-8")
    rule = load_rule(good)
    assert (rule.city_group, rule.commune_groups, rule.reserved) == ("H99", (70, 71), frozenset({"000.01.70.H99"}))
    for text, reason in [
        ("colour: red\n", "unknown key"),
        ("commune_groups: [5]\n", "used twice"),
        ("city_group: 13\n", "look like H13"),
        ("[1, 2\n", "not valid YAML"),
    ]:
        good.write_text(text, encoding="utf-8")
        with pytest.raises(InvalidInput, match=reason):
            load_rule(good)
    with pytest.raises(InvalidInput, match="no such file"):
        load_rule(tmp_path / "missing.yaml")


def _issue(rdb: Session, rule: CodeRule | None = None) -> list[str]:
    out = service.issue_codes(rdb, rule or CodeRule(), issued_on=DAY, decision="QĐ 1/2025")
    return [i.code for i in out.issued]


def test_issue_gives_every_new_commune_a_committee_and_a_center(rdb: Session) -> None:
    codes = _issue(rdb)
    assert len(codes) == 2 * 103
    assert len(set(codes)) == len(codes)
    assert all(is_valid_code(c) for c in codes)
    assert codes[:2] == ["000.01.60.H13", "001.01.60.H13"]  # 31120 first, the center under its committee
    issued = rdb.scalars(select(CodeIssuance)).all()
    assert {i.code for i in issued} == set(codes)
    assert {i.decision_number for i in issued} == {"QĐ 1/2025"}
    # Idempotent: a second run issues nothing and records nothing.
    again = service.issue_codes(rdb, CodeRule(), issued_on=date(2025, 8, 1), decision="QĐ 2/2025")
    assert again.issued == []
    assert again.already_issued == 2 * 103
    assert rdb.scalar(select(func.count()).select_from(CodeIssuance)) == 2 * 103


def test_issue_never_reuses_a_code(rdb: Session) -> None:
    service.seed_agencies(rdb, CodeRule())
    # A closed agency once held the first slot, and the rule reserves the second: both are skipped.
    rdb.add(
        Agency(
            code="000.01.60.H13",
            name="Cơ quan đã giải thể",
            kind="other",
            valid_from=date(2000, 1, 1),
            valid_to=date(2020, 1, 1),
            province_code="92",
        )
    )
    rdb.flush()
    codes = _issue(rdb, CodeRule(reserved=frozenset({"000.02.60.H13"})))
    assert codes[0] == "000.03.60.H13"
    held = rdb.scalars(select(Agency.code)).all()
    assert len(held) == len(set(held))
    assert "000.01.60.H13" not in codes and "000.02.60.H13" not in codes
    # 99 committees per group: the rest go to the next group.
    assert sum(1 for c in codes if c.startswith("000.") and c.split(".")[2] == "61") == 103 - 97


def test_full_groups_are_a_clear_error(rdb: Session) -> None:
    with pytest.raises(Conflict, match="commune groups"):
        _issue(rdb, CodeRule(commune_groups=(60,)))


def test_seed_closes_old_agencies_with_their_successor(rdb: Session) -> None:
    added = service.seed_agencies(rdb, CodeRule())
    assert added == 1 + 5 + 1 + 2 + 28  # city, departments, center, two old provinces, 28 districts
    assert service.seed_agencies(rdb, CodeRule()) == 0
    closed = service.list_agencies(rdb, kind="people_committee")
    old = [a for a in closed if a.valid_to is not None]
    assert len(old) == 30
    assert {a.valid_to for a in old} == {date(2025, 6, 30)}
    assert {a.successor_code for a in old} == {"000.00.00.H13"}
    assert {a.code for a in old if a.unit_code in ("93", "94")} == {"000.00.00.H28", "000.00.00.H51"}


def test_resolve_old_codes(rdb: Session) -> None:
    service.seed_agencies(rdb, CodeRule())
    then = service.resolve_agency(rdb, "000.00.00.H28", date(2025, 6, 30))
    assert then.current.code == "000.00.00.H28"
    now = service.resolve_agency(rdb, "000.00.00.H28", DAY)
    assert now.current.code == "000.00.00.H13"
    assert now.current.name == "Ủy ban nhân dân thành phố Cần Thơ"
    assert now.path == ["000.00.00.H28", "000.00.00.H13"]
    district = service.resolve_agency(rdb, "000.00.31.H51", DAY)
    assert district.asked.name.startswith("Ủy ban nhân dân ")
    assert district.current.code == "000.00.00.H13"
    by_unit = service.resolve_agency(rdb, "916", DAY)  # a unit code stands for its committee
    assert (by_unit.asked.name, by_unit.current.code) == ("Ủy ban nhân dân quận Ninh Kiều", "000.00.00.H13")
    assert service.resolve_agency(rdb, "93", date(2025, 6, 30)).current.code == "000.00.00.H28"
    with pytest.raises(NotFound, match="no People's Committee code"):
        service.resolve_agency(rdb, "31117", DAY)
    with pytest.raises(NotFound, match="no agency has code"):
        service.resolve_agency(rdb, "000.00.99.H13", DAY)
    with pytest.raises(NotFound, match="did not exist yet"):
        service.resolve_agency(rdb, "000.00.20.H13", date(2025, 1, 1))
    with pytest.raises(InvalidInput):
        service.resolve_agency(rdb, "gibberish", DAY)


def test_center_for_commune_routes_old_and_new_codes(rdb: Session) -> None:
    with pytest.raises(NotFound, match="agencies issue"):
        service.center_for_commune(rdb, "31120", DAY)
    _issue(rdb)
    center = service.center_for_commune(rdb, "31120", DAY)
    assert center.kind == "service_center"
    assert center.name == "Trung tâm Phục vụ hành chính công phường Cái Khế"
    assert service.center_for_commune(rdb, "31117", DAY).code == center.code  # old Cái Khế merged into 31120
    with pytest.raises(Conflict, match="split into Phường Cái Khế \\(31120\\), Phường Bình Thủy \\(31168\\)"):
        service.center_for_commune(rdb, "31178", DAY)
    with pytest.raises(NotFound):
        service.center_for_commune(rdb, "99999", DAY)
    with pytest.raises(InvalidInput, match="not a commune"):
        service.center_for_commune(rdb, "92", DAY)
    provincial = service.provincial_center(rdb, on=DAY)
    assert provincial.code == "000.00.20.H13"
    assert provincial.unit_code == "92"


def test_service_centers_in_one_query_agree_with_the_one_by_one_lookups(rdb: Session) -> None:
    from hopnhat.registry import repository

    today = list(repository.active_units(rdb, DAY, provinces=["92"]))
    assert service.service_centers(rdb, today, DAY) == {}  # no codes issued yet: nowhere to route
    _issue(rdb)
    city = service.provincial_center(rdb, "92", DAY).code
    found = service.service_centers(rdb, today, DAY)
    communes = [u for u in today if u.level == "commune"]
    assert len(communes) == 103
    assert {u.code: service.center_for_commune(rdb, u.code, DAY).code for u in communes} == {
        code: agency for code, agency in found.items() if code != "92"
    }
    assert found["92"] == city


def test_a_later_reform_closes_the_ended_communes_agencies(rdb: Session) -> None:
    service.issue_codes(rdb, CodeRule(), issued_on=DAY, decision="QĐ 1")
    old_committee = service.resolve_agency(rdb, "31120", DAY).current.code
    header = "old_commune_code,old_commune_name,old_district_code,old_province_code,new_commune_code,new_commune_name"
    text = (
        f"{header},kind\n31120,Phường Cái Khế,,92,31120,Phường Ninh Kiều Bắc,whole\n"
        "31135,Phường Ninh Kiều,,92,31120,Phường Ninh Kiều Bắc,whole\n"
    )
    reform = date(2026, 1, 1)
    service.apply_changes(rdb, text, effective=reform, basis="NQ thử")
    out = service.issue_codes(rdb, CodeRule(), issued_on=reform, decision="QĐ 2")
    new_codes = {i.code for i in out.issued}
    assert len(new_codes) == 2 and old_committee not in new_codes  # the new commune gets new codes, never reused
    assert old_committee in out.closed and len(out.closed) == 4  # two communes' committees and centers
    later = service.resolve_agency(rdb, old_committee, date(2026, 2, 1))
    assert later.asked.valid_to == date(2025, 12, 31)
    assert later.current.code in new_codes and later.current.name == "Ủy ban nhân dân phường Ninh Kiều Bắc"
    assert service.resolve_agency(rdb, old_committee, date(2025, 12, 31)).current.code == old_committee
    again = service.issue_codes(rdb, CodeRule(), issued_on=reform)
    assert again.issued == [] and again.closed == []
