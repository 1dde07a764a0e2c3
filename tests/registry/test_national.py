"""The whole country in the registry: one reader of the bundled tables, one setting for the province served,
agency codes for any province, as-of facts for several provinces, change sets in one canonical format."""

from __future__ import annotations

import io
import re
import tokenize
from collections import Counter
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from hopnhat.config import Settings, get_settings, province_code
from hopnhat.db import ensure_schema, make_engine, session_scope
from hopnhat.errors import InvalidInput, NotFound
from hopnhat.registry import service
from hopnhat.registry.bundled import national
from hopnhat.registry.codes import CodeRule, for_province, known_groups
from hopnhat.registry.loader import load_bundled
from hopnhat.registry.models import Agency, Unit

SRC = Path(__file__).resolve().parents[2] / "src" / "hopnhat"
BEFORE, AFTER, TODAY = date(2025, 6, 30), date(2025, 7, 1), date(2026, 12, 1)


def _string_literals(path: Path) -> list[tuple[int, str]]:
    """Plain string literals of a module (no f-strings), with their line."""
    out = []
    for tok in tokenize.generate_tokens(io.StringIO(path.read_text(encoding="utf-8")).readline):
        if tok.type == tokenize.STRING and tok.string[0] in "'\"":
            value = tok.string.strip("'\"")
            out.append((tok.start[0], value))
    return out


# A literal that happens to equal a province code but is something else, with the reason.
NOT_A_PROVINCE = {("registry/addrtext.py", "10"): "the Roman numeral X"}


def test_no_province_code_written_in_the_code() -> None:
    data = national()
    codes = set(data.old_provinces) | set(data.new_provinces)
    found = []
    for path in sorted(SRC.rglob("*.py")):
        rel = path.relative_to(SRC).as_posix()
        if rel == "config.py" or rel.startswith("migrations/versions/"):
            continue  # the one setting's default; frozen migrations
        found += [f"{rel}:{line} {value!r}" for line, value in _string_literals(path) if value in codes]
    assert [f for f in found if (f.split(":")[0], f.split("'")[1]) not in NOT_A_PROVINCE] == []


def test_no_agency_group_number_written_in_the_code() -> None:
    found = []
    for path in sorted(SRC.rglob("*.py")):
        rel = path.relative_to(SRC).as_posix()
        found += [f"{rel}:{line} {v!r}" for line, v in _string_literals(path) if re.fullmatch(r"[GHK]\d\d", v)]
    assert found == []


def test_one_reader_of_the_bundled_tables() -> None:
    names = ("units_before_2025-07-01", "units_from_2025-07-01", "lineage_2025-07-01", "agency_groups")
    readers = {
        path.relative_to(SRC).as_posix()
        for path in SRC.rglob("*.py")
        if any(name in v and v.endswith(".csv") and "\n" not in v for _, v in _string_literals(path) for name in names)
    }
    assert readers == {"registry/bundled.py"}


def test_the_bundled_tables_are_the_whole_country() -> None:
    data = national()
    assert (len(data.old_provinces), len(data.districts), len(data.old_communes)) == (63, 696, 10_035)
    assert (len(data.new_provinces), len(data.new_communes)) == (34, 3_321)
    assert Counter(c.type for c in data.new_communes.values()) == {"Xã": 2_621, "Phường": 687, "Đặc khu": 13}
    assert len(data.lineage) == 10_565 and len(data.island_lineage) == 5
    assert data.former_provinces("92") == ["92", "93", "94"]


def test_the_province_served_is_one_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    assert province_code() == get_settings().province_code == "92"
    monkeypatch.setenv("HOPNHAT_PROVINCE_CODE", "75")
    assert province_code() == "75"
    monkeypatch.setenv("HOPNHAT_PROVINCE_CODE", "7")
    with pytest.raises(ValueError, match="province_code"):
        Settings()


def test_group_numbers_known_today_are_unconfirmed() -> None:
    groups = known_groups()
    assert {code: g.group for code, g in groups.items()} == {"92": "H13", "93": "H28", "94": "H51"}
    assert not any(g.confirmed for g in groups.values())
    rule = for_province(CodeRule(), "92")
    assert (rule.city_group, rule.old_province_groups) == ("H13", {"93": "H28", "94": "H51"})
    assert rule.provincial_center.name == "Trung tâm Phục vụ hành chính công thành phố Cần Thơ"


def test_another_province_needs_its_group_numbers_given() -> None:
    with pytest.raises(InvalidInput) as exc:
        for_province(CodeRule(), "75")  # Đồng Nai = Bình Phước (70) + Đồng Nai (75)
    assert "city_group" in exc.value.detail and "old_province_groups[70]" in exc.value.detail
    rule = for_province(CodeRule(city_group="H39", old_province_groups={"70": "H38"}), "75")
    assert (rule.city_group, rule.old_province_groups) == ("H39", {"70": "H38"})
    assert rule.departments[0].name == "Văn phòng Ủy ban nhân dân tỉnh"
    with pytest.raises(InvalidInput, match="kept from 72"):  # Tây Ninh keeps the name of old 72, not code 80's
        for_province(CodeRule(), "80")


# --- the national registry in a store, loaded once for this module -------------------------------------------------


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def national_engine(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Engine:  # the whole country, loaded once per backend for the module
    from tests.conftest import _create_pg_database, _drop_pg_database

    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('national') / 'n.db'}"
    else:
        url = _create_pg_database()
        request.addfinalizer(lambda: _drop_pg_database(url))
    engine = make_engine(url)
    ensure_schema(engine)
    with session_scope(engine) as session:
        load_bundled(session)
    request.addfinalizer(engine.dispose)
    return engine


@pytest.fixture
def ndb(national_engine: Engine) -> Session:
    connection = national_engine.connect()
    transaction = connection.begin()
    session = Session(bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False)
    yield session  # type: ignore[misc]
    session.close()
    transaction.rollback()
    connection.close()


def test_counts_per_province_on_2025_07_01_equal_the_table(ndb: Session) -> None:
    table = Counter(c.province_code for c in national().new_communes.values())
    rows = ndb.execute(
        select(Unit.province_code, func.count())
        .where(Unit.level == "commune", Unit.valid_from <= AFTER, (Unit.valid_to.is_(None)) | (Unit.valid_to >= AFTER))
        .group_by(Unit.province_code)
    ).all()
    assert dict(rows) == dict(table)
    assert (len(rows), sum(table.values())) == (34, 3_321)
    provinces = service.stats(ndb, list(national().new_provinces), AFTER)
    assert provinces.by_level == {"province": 34, "commune": 3_321}


@pytest.mark.parametrize(
    ("code", "before", "after"),
    [
        ("31120", "Phường An Hòa", "Phường Cái Khế"),  # Cần Thơ
        ("00004", "Phường Trúc Bạch", "Phường Ba Đình"),  # Hà Nội
        ("26740", "Phường Bến Nghé", "Phường Sài Gòn"),  # Hồ Chí Minh City
    ],
)
def test_a_reused_code_names_another_unit_on_each_date(ndb: Session, code: str, before: str, after: str) -> None:
    assert service.show(ndb, code, BEFORE).name == before
    assert service.show(ndb, code, AFTER).name == after
    successors = service.successors(ndb, code, BEFORE).successors or []
    assert all(link.unit is not None and link.unit.name != before for link in successors)


def test_split_communes_list_every_successor(ndb: Session) -> None:
    data = national()
    split = Counter(lk.old_code for lk in data.lineage if lk.kind == "part")
    assert len(split) == 440
    for old in ("00553", "31178", *sorted(split)[::97]):  # Cổ Bi (a corrected NSO typo), Bùi Hữu Nghĩa, a sample
        expected = {lk.new_code for lk in data.lineage if lk.old_code == old}
        links = service.successors(ndb, old, BEFORE).successors or []
        assert {link.unit.code for link in links if link.unit} == expected, old
        assert {link.kind for link in links} == ({"part"} if len(expected) > 1 else {"whole"})


def test_an_island_district_became_a_special_zone(ndb: Session) -> None:
    links = service.successors(ndb, "755", BEFORE).successors or []  # Huyện Côn Đảo, Bà Rịa - Vũng Tàu
    zones = [(lk.unit.code, lk.unit.name, lk.unit.type) for lk in links if lk.unit is not None]
    assert zones == [("26732", "Đặc khu Côn Đảo", "Đặc khu")]
    assert service.show(ndb, "26732", AFTER).province_code == "79"  # now in Hồ Chí Minh City
    assert service.show(ndb, "755", BEFORE).name == "Huyện Côn Đảo"


@pytest.mark.parametrize(
    ("code", "day", "name", "type_"),
    [
        ("75", date(2026, 4, 29), "Tỉnh Đồng Nai", "Tỉnh"),
        ("75", date(2026, 4, 30), "Thành phố Đồng Nai", "Thành phố"),
        ("22", date(2026, 8, 31), "Tỉnh Quảng Ninh", "Tỉnh"),
        ("22", date(2026, 9, 1), "Thành phố Quảng Ninh", "Thành phố"),
        ("24", date(2026, 9, 19), "Tỉnh Bắc Ninh", "Tỉnh"),
        ("24", date(2026, 9, 20), "Thành phố Bắc Ninh", "Thành phố"),
        ("25270", date(2026, 4, 29), "Xã Lộc Ninh", "Xã"),
        ("25270", date(2026, 4, 30), "Phường Lộc Ninh", "Phường"),
        ("25270", BEFORE, "Thị trấn Lộc Ninh", "Thị trấn"),
    ],
)
def test_later_changes_answer_the_name_and_type_of_each_date(
    ndb: Session, code: str, day: date, name: str, type_: str
) -> None:
    unit = service.show(ndb, code, day)
    assert (unit.name, unit.type) == (name, type_)


def test_later_changes_carry_their_legal_basis(ndb: Session) -> None:
    changes = service.export_rows(ndb, TODAY)["changes"]
    bases = {(r["old_code"], r["effective_date"].isoformat(), r["legal_basis"]) for r in changes}
    assert ("75", "2026-04-30", "Nghị quyết 30/2026/QH16") in bases
    assert ("26485", "2026-04-30", "Nghị quyết 237/NQ-UBTVQH16") in bases
    assert ("24", "2026-09-20", "Nghị quyết 39/2026/QH16") in bases
    assert len(changes) == 13 and {r["kind"] for r in changes} == {"whole"}


def test_change_sets_round_trip_and_apply_once(ndb: Session, tmp_path: Path) -> None:
    # Export what a store holds since the reform, apply it to a store loaded without the later changes: the same.
    text = service.render_export(service.export_rows(ndb, TODAY), "csv", "changes", TODAY).decode()
    assert text.splitlines()[0].startswith("effective_date,legal_basis,legal_basis_date,level,old_code")
    engine = make_engine(f"sqlite:///{tmp_path / 'other.db'}")
    ensure_schema(engine)
    with session_scope(engine) as other:
        load_bundled(other, later=False)
        assert service.show(other, "75", TODAY).name == "Tỉnh Đồng Nai"
        first = service.apply_changes(other, text, effective=None, basis=None)
        assert (first["change_sets"], first["rows"], first["units_added"]) == (4, 13, 13)
        again = service.apply_changes(other, text, effective=None, basis=None)
        assert (again["units_added"], again["units_closed"], again["links_added"], again["events_added"]) == (
            0,
            0,
            0,
            0,
        )
        assert service.render_export(service.export_rows(other, TODAY), "csv", "changes", TODAY).decode() == text
        assert service.render_export(service.export_rows(other, TODAY), "csv", "units", TODAY) == (
            service.render_export(service.export_rows(ndb, TODAY), "csv", "units", TODAY)
        )
    engine.dispose()


def test_agency_codes_for_another_province_with_a_given_group(ndb: Session) -> None:
    with pytest.raises(InvalidInput, match="will not invent"):
        service.issue_codes(ndb, CodeRule(), issued_on=AFTER, province="75")
    rule = CodeRule(city_group="H39", old_province_groups={"70": "H38"})  # test values, not facts
    out = service.issue_codes(ndb, rule, issued_on=AFTER, province="75", decision="QĐ thử")
    communes = [u for u in service.repo.active_units(ndb, AFTER, level="commune", provinces=["75"])]
    assert len(out.issued) == 2 * len(communes) == 2 * 95
    assert all(i.code.endswith(".H39") for i in out.issued)
    closed = ndb.scalars(select(Agency).where(Agency.code == "000.00.00.H38")).one()
    assert (closed.name, closed.valid_to, closed.successor_code) == (
        "Ủy ban nhân dân tỉnh Bình Phước",
        BEFORE,
        "000.00.00.H39",
    )
    assert service.provincial_center(ndb, "75", AFTER).name == "Trung tâm Phục vụ hành chính công tỉnh Đồng Nai"


def test_the_deployment_routes_only_its_own_communes(ndb: Session) -> None:
    service.issue_codes(ndb, CodeRule(), issued_on=AFTER)  # Cần Thơ, the province this deployment serves
    assert service.center_for_commune(ndb, "31120", AFTER).code.endswith(".H13")
    with pytest.raises(NotFound, match="not in province 92"):
        service.center_for_commune(ndb, "00004", AFTER)  # Phường Ba Đình, Hà Nội
    with pytest.raises(NotFound, match="not in province 92"):
        service.center_for_commune(ndb, "00001", AFTER)  # old Phúc Xá, followed to Hồng Hà, Hà Nội
