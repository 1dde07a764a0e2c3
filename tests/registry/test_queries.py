"""Registry queries on the bundled data, on SQLite and PostgreSQL (``rdb``)."""

from __future__ import annotations

import csv
import io
import json
from datetime import date

import pytest
from openpyxl import load_workbook
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from hopnhat.errors import InvalidInput, NotFound
from hopnhat.registry import service
from hopnhat.registry.models import Unit

BEFORE, AFTER = date(2025, 6, 30), date(2025, 7, 1)
CAN_THO = ("92", "93", "94")


def test_code_31120_names_two_units(rdb: Session) -> None:
    assert service.show(rdb, "31120", BEFORE).name == "Phường An Hòa"
    assert service.show(rdb, "31120", AFTER).name == "Phường Cái Khế"


def test_show_unknown_and_malformed_codes(rdb: Session) -> None:
    with pytest.raises(NotFound, match="no unit has ever had code 99999"):
        service.show(rdb, "99999", AFTER)
    with pytest.raises(NotFound, match="no unit bore code 31117 on 2025-07-01"):
        service.show(rdb, "31117", AFTER)  # merged into 31120 on that day
    for bad in ("", "abc", "3112", "x" * 1_000_000):
        with pytest.raises(InvalidInput):
            service.show(rdb, bad, AFTER)


def test_every_old_commune_has_a_successor_in_the_new_city(rdb: Session) -> None:
    olds = rdb.scalars(
        select(Unit).where(Unit.level == "commune", Unit.valid_to == BEFORE, Unit.province_code.in_(CAN_THO))
    ).all()
    assert len(olds) == 263
    for old in olds:
        links = service.successors(rdb, old.code, BEFORE).successors or []
        assert links, old.code
        assert all(link.unit is not None and link.unit.valid_from == AFTER for link in links), old.code
        assert all(link.unit is not None and link.unit.province_code == "92" for link in links), old.code


def test_every_new_commune_has_a_predecessor(rdb: Session) -> None:
    news = rdb.scalars(
        select(Unit).where(Unit.level == "commune", Unit.valid_from == AFTER, Unit.province_code == "92")
    ).all()
    assert len(news) == 103
    for new in news:
        links = service.predecessors(rdb, new.code, AFTER).predecessors or []
        assert links, new.code
        assert all(link.unit is not None and link.unit.valid_to == BEFORE for link in links)


@pytest.mark.parametrize(
    ("code", "targets"),
    [("31178", {"31120", "31168"}), ("31183", {"31150", "31183"}), ("31207", {"31207", "31228"})],
)
def test_split_wards_have_two_part_successors(rdb: Session, code: str, targets: set[str]) -> None:
    out = service.successors(rdb, code)  # no date: the period of the code that ended
    links = out.successors or []
    assert out.unit.valid_to == BEFORE
    assert {link.unit.code for link in links if link.unit} == targets
    assert {link.kind for link in links} == {"part"}


def test_reused_code_lineage_without_date(rdb: Session) -> None:
    succ = service.successors(rdb, "31120")
    assert succ.unit.name == "Phường An Hòa"
    assert [(lk.unit.name if lk.unit else None, lk.kind) for lk in succ.successors or []] == [
        ("Phường Cái Khế", "whole")
    ]
    pred = service.predecessors(rdb, "31120")
    assert pred.unit.name == "Phường Cái Khế"
    assert {(lk.unit.code, lk.kind) for lk in pred.predecessors or [] if lk.unit} == {
        ("31117", "whole"),
        ("31120", "whole"),
        ("31178", "part"),
    }


def test_unchanged_kind_and_abolished_districts(rdb: Session) -> None:
    kinds = [
        lk.kind
        for u in rdb.scalars(
            select(Unit).where(Unit.level == "commune", Unit.valid_to == BEFORE, Unit.province_code.in_(CAN_THO))
        )
        for lk in service.successors(rdb, u.code, BEFORE).successors or []
    ]
    assert kinds.count("unchanged") == 8
    district = service.successors(rdb, "916", BEFORE).successors or []
    assert [(lk.unit, lk.event) for lk in district] == [(None, "level_abolished")]


@pytest.mark.parametrize("text", ["Phường Cái Khế", "PHUONG CAI KHE", "cai khe", "Cai Khee", "cái khé"])
def test_search_ignores_diacritics_case_and_typos(rdb: Session, text: str) -> None:
    out = service.search(rdb, text, AFTER)
    assert out.hits[0].unit.code == "31120"
    assert out.hits[0].unit.name == "Phường Cái Khế"


def test_search_is_dated_ranked_and_filtered(rdb: Session) -> None:
    old = service.search(rdb, "an hoa", BEFORE, level="commune")
    assert old.hits[0].unit.name in ("Phường An Hòa", "Xã An Hòa")  # many of each in the country
    assert [h.score for h in old.hits] == sorted((h.score for h in old.hits), reverse=True)
    assert all(h.unit.level == "commune" for h in old.hits)
    assert service.search(rdb, "ninh kieu", BEFORE, level="district").hits[0].unit.code == "916"
    same_name = service.search(rdb, "xa phu tan", BEFORE).hits[:3]  # Châu Thành has a Phú Tân in 93 and in 94
    assert {h.parent_name for h in same_name if h.unit.name == "Xã Phú Tân"} >= {"Huyện Châu Thành"}
    assert len({h.unit.province_code for h in same_name if h.unit.name == "Xã Phú Tân"}) >= 2
    assert len(service.search(rdb, "phuong", AFTER, limit=3).hits) <= 3
    with pytest.raises(NotFound):  # Bùi Hữu Nghĩa does not exist any more (split in two)
        service.search(rdb, "bui huu nghia", AFTER, cutoff=99)


@pytest.mark.parametrize("text", ["", "   ", "!!!", "a" * 1_000_000])
def test_search_refuses_bad_text(rdb: Session, text: str) -> None:
    with pytest.raises(InvalidInput):
        service.search(rdb, text, AFTER)


def test_search_gibberish_finds_nothing(rdb: Session) -> None:
    with pytest.raises(NotFound, match="matches"):
        service.search(rdb, "qxzqxzqxz", AFTER)
    with pytest.raises(InvalidInput, match="level"):
        service.search(rdb, "cai khe", AFTER, level="village")


def test_stats_after_and_before_the_reform(rdb: Session) -> None:
    after = service.stats(rdb, ["92"], AFTER)
    assert after.by_level_and_type["commune"] == {"Phường": 31, "Xã": 72}
    assert after.by_level["commune"] == 103
    assert "district" not in after.by_level
    before = service.stats(rdb, ["92,93", "94"], BEFORE)
    assert before.provinces == ["92", "93", "94"]
    assert before.by_level["commune"] == 263
    assert before.by_level["district"] == 28
    assert service.stats(rdb, ["92", "93", "94"], BEFORE) == before
    with pytest.raises(InvalidInput):
        service.stats(rdb, ["9a"], AFTER)
    with pytest.raises(NotFound):
        service.stats(rdb, ["93"], AFTER)  # Hậu Giang no longer exists


def test_export_neutralises_formulas() -> None:
    """Text a spreadsheet would run is written as text: an apostrophe in CSV, a typed string cell in XLSX; numbers
    and phone numbers are left alone."""
    unit = dict.fromkeys(service.UNIT_COLUMNS, "")
    unit.update(code="31120", valid_from=AFTER, name='=HYPERLINK("http://x")', type="-5", parent_code="+84912345678")
    rows: dict[str, list[dict[str, object]]] = {"units": [unit], "lineage": []}
    text = service.render_export(rows, "csv", "units", AFTER).decode()
    assert text.splitlines()[1] == '31120,2025-07-01,,,-5,"\'=HYPERLINK(""http://x"")",+84912345678,'
    book = load_workbook(io.BytesIO(service.render_export(rows, "xlsx", "units", AFTER)))
    cells = {c.column_letter: c for c in book["units"][2]}
    assert (cells["F"].value, cells["F"].data_type) == ('=HYPERLINK("http://x")', "s")
    assert (cells["E"].value, cells["G"].value) == ("-5", "+84912345678")


def test_export_formats(rdb: Session) -> None:
    rows = service.export_rows(rdb, AFTER, ["92"])
    doc = json.loads(service.render_export(rows, "json", "all", AFTER))
    assert sum(1 for u in doc["units"] if u["level"] == "commune") == 103
    assert len(doc["lineage"]) == 266 + 3 + 28
    units = list(csv.DictReader(io.StringIO(service.render_export(rows, "csv", "units", AFTER).decode())))
    assert [u["name"] for u in units if u["code"] == "31120"] == ["Phường Cái Khế"]
    assert units == [{k: "" if v is None else v for k, v in u.items()} for u in doc["units"]]
    lineage = list(csv.DictReader(io.StringIO(service.render_export(rows, "csv", "lineage", AFTER).decode())))
    assert sum(1 for r in lineage if r["from_code"] == "31178" and r["kind"] == "part") == 2
    book = load_workbook(io.BytesIO(service.render_export(rows, "xlsx", "all", AFTER)))
    assert book.sheetnames == ["units", "lineage"]
    assert book["units"].max_row == 1 + len(rows["units"])
    with pytest.raises(InvalidInput, match="one table"):
        service.render_export(rows, "csv", "all", AFTER)
    with pytest.raises(InvalidInput):
        service.render_export(rows, "pdf", "all", AFTER)


HEADER = "old_commune_code,old_commune_name,old_district_code,old_province_code,new_commune_code,new_commune_name,kind"


def test_apply_a_later_change_set(rdb: Session) -> None:
    text = (
        f"{HEADER}\n31120,Phường Cái Khế,,92,31120,Phường Cái Khế,whole\n"
        "31135,Phường Ninh Kiều,,92,31120,Phường Cái Khế,whole\n"
    )
    out = service.apply_changes(rdb, text, effective=date(2026, 4, 30), basis="Nghị quyết thử")
    assert out["units_added"] == 1
    assert out["units_closed"] == 2
    assert service.show(rdb, "31120", date(2026, 4, 29)).valid_to == date(2026, 4, 29)
    new = service.show(rdb, "31120", date(2026, 4, 30))
    assert new.valid_from == date(2026, 4, 30)
    assert {lk.unit.code for lk in service.predecessors(rdb, "31120").predecessors or [] if lk.unit} == {
        "31120",
        "31135",
    }
    assert service.stats(rdb, ["92"], date(2026, 4, 30)).by_level["commune"] == 102


def test_malformed_change_set_changes_nothing(rdb: Session) -> None:
    before = rdb.scalar(select(func.count()).select_from(Unit))
    text = (
        f"{HEADER}\n31120,Phường Cái Khế,,92,31120,Phường Cái Khế,whole\n"
        "99999,Xã Không Có,,92,31120,Phường Cái Khế,whole\n"
    )
    with pytest.raises(InvalidInput, match="line 3: old unit 99999 does not exist"):
        service.apply_changes(rdb, text, effective=date(2026, 4, 30), basis="Nghị quyết thử")
    assert rdb.scalar(select(func.count()).select_from(Unit)) == before
    assert service.show(rdb, "31120", date(2026, 5, 1)).valid_from == AFTER


def _units_snapshot(session: Session) -> list[tuple[str, date, date | None]]:
    return [(u.code, u.valid_from, u.valid_to) for u in session.scalars(select(Unit).order_by(Unit.id))]


def test_change_set_cannot_give_a_code_still_in_force(rdb: Session) -> None:
    # 31120 (Phường Cái Khế) stays open; a second unit bearing 31120 from 2026 would make `show` pick one at random.
    before = _units_snapshot(rdb)
    text = f"{HEADER}\n31135,Phường Ninh Kiều,,92,31120,Phường Ninh Kiều Mới,whole\n"
    with pytest.raises(InvalidInput, match=r"line 2: code 31120 is still borne by Phường Cái Khế"):
        service.apply_changes(rdb, text, effective=date(2026, 1, 1), basis="NQ thử")
    assert _units_snapshot(rdb) == before


def test_change_set_cannot_rewrite_history(rdb: Session) -> None:
    # Phường An Bình (31150) ended on 2025-06-30; closing it on 2019-12-31 would cut its settled 2025 lineage.
    before = _units_snapshot(rdb)
    text = f"{HEADER}\n31150,Phường An Bình,916,92,31999,Phường Mới,whole\n"
    with pytest.raises(InvalidInput, match=r"old unit 31150 \(Phường An Bình\) already ends on 2025-06-30"):
        service.apply_changes(rdb, text, effective=date(2020, 1, 1), basis="NQ thử")
    assert _units_snapshot(rdb) == before
    assert service.show(rdb, "31150", date(2024, 1, 1)).name == "Phường An Bình"


def test_change_set_applied_again_then_bundled_reload_add_nothing(rdb: Session) -> None:
    from hopnhat.registry.loader import load_bundled

    text = (
        f"{HEADER}\n31120,Phường Cái Khế,,92,31120,Phường Ninh Kiều Bắc,whole\n"
        "31135,Phường Ninh Kiều,,92,31120,Phường Ninh Kiều Bắc,whole\n"
    )
    first = service.apply_changes(rdb, text, effective=date(2026, 1, 1), basis="NQ thử")
    assert (first["units_added"], first["units_closed"]) == (1, 2)
    again = service.apply_changes(rdb, text, effective=date(2026, 1, 1), basis="NQ thử")
    assert (again["units_added"], again["units_closed"], again["links_added"]) == (0, 0, 0)
    # The bundled 31120 of 2025-07-01 is now closed: reloading must not mistake the 2026 unit for a clash.
    report = load_bundled(rdb)
    assert (report.units_added, report.units_closed, report.links_added) == (0, 0, 0)
    renamed = text.replace("Ninh Kiều Bắc", "Ninh Kiều Nam")
    with pytest.raises(InvalidInput, match="already exists as 'Phường Ninh Kiều Bắc', not 'Phường Ninh Kiều Nam'"):
        service.apply_changes(rdb, renamed, effective=date(2026, 1, 1), basis="NQ thử")
