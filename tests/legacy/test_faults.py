"""The faults manifest is truthful: every injected fault is really in its source record, where the manifest says,
in a form a reader can detect (mojibake of plain ASCII, a "misspelling" that names another unit, a "missing" unit on
a row that never has one would be no fault at all)."""

from __future__ import annotations

import csv
import io
import json
import random
import sqlite3
import unicodedata
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import openpyxl
import pytest

from hopnhat.legacy import catalog
from hopnhat.legacy.advance import tick
from hopnhat.legacy.generator import generate
from hopnhat.legacy.record import garbled_field, mojibake
from hopnhat.legacy.systems import HAUGIANG_COLUMNS, MISSPELLINGS, _cp1258, misspell, unit_name
from hopnhat.registry.text import fold

TELLTALES = frozenset(bytes([b]).decode("cp1252", errors="replace") for b in range(0x80, 0xC0))
"""What UTF-8 continuation bytes become when read as cp1252 (» º ° ¡ ‘ …): never a Vietnamese letter."""
FULL_TYPE = {abbr: word for word, abbr in catalog.ABBREVIATIONS.items()}


def _names() -> set[str]:
    people = {
        f"{family} {middle} {given}"
        for family in catalog.FAMILY
        for middle, given in [(m, g) for m in catalog.MIDDLE_M for g in catalog.GIVEN_M]
        + [(m, g) for m in catalog.MIDDLE_F for g in catalog.GIVEN_F]
    }
    return people | {f"{kind} {name}" for kind in catalog.BUSINESS for name in catalog.BUSINESS_NAMES}


def _folded_unit(part: str) -> str:
    head, _, rest = unicodedata.normalize("NFC", part).partition(" ")
    return fold(f"{FULL_TYPE.get(head, head)} {rest}")


def _places() -> list[catalog.Place]:
    geo = catalog.geography()
    return [
        *(p for ps in geo.communes.values() for p in ps),
        *(p for ps in geo.districts.values() for p in ps),
        *geo.provinces.values(),
    ]


def _impossible(value: str, layout: str) -> bool:
    try:
        datetime.strptime(value, layout)
    except ValueError:
        return True
    return False


def test_wrong_encoding_always_damages_text() -> None:
    """Some fake names are plain ASCII ("Danh Minh Long"); their mojibake is the name itself, so the fault goes to
    the address, which always has Vietnamese letters."""
    names = _names()
    assert any(n.isascii() for n in names), "no ASCII name: this test no longer covers the case it is for"
    for name in names:
        address = "Ấp 1, Xã Hỏa Lựu, Thành phố Vị Thanh, Tỉnh Hậu Giang"
        target = name if garbled_field(name, "name", "address") == "name" else address
        garbled = mojibake(target)
        assert garbled != target and TELLTALES & set(garbled), name
        assert mojibake(unicodedata.normalize("NFD", target)) == garbled  # decomposed text is damaged the same way


def test_cp1258_rows_are_lossless_windows_1258() -> None:
    """A cp1258 export row is wrong bytes, not lost letters: read as cp1258 it gives the row back."""
    for text in [*_names(), *catalog.STATUS_WORDS.values(), *(p.name for p in _places())]:
        raw = _cp1258(text)
        if not text.isascii():  # a row always has Vietnamese letters (its status word, at least)
            with pytest.raises(UnicodeDecodeError):
                raw.decode("utf-8")
        assert unicodedata.normalize("NFC", raw.decode("cp1258")) == unicodedata.normalize("NFC", text)


def test_misspelt_unit_names_are_never_right_and_never_another_unit() -> None:
    real = {_folded_unit(f"{p.type_} {p.name}") for p in _places()}
    for place in _places():
        for seed in range(3):
            name = unit_name(place, random.Random(seed), home=place.province_code)
            head = name.split(", ")[0]
            for kind in MISSPELLINGS:
                if kind == MISSPELLINGS[0] and place.name.isascii():
                    continue  # never chosen for such a unit: there is nothing to strip
                wrong = misspell(name, kind, random.Random(seed))
                wrong_head, _, wrong_tail = wrong.partition(", ")
                assert wrong_head != head and wrong_tail == name.partition(", ")[2], (name, wrong)
                if kind == MISSPELLINGS[0]:
                    assert wrong_head.isascii() and _folded_unit(wrong_head) == _folded_unit(head), (name, wrong)
                else:
                    assert _folded_unit(wrong_head) not in real, (name, wrong)


@pytest.fixture(scope="module")
def out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("faulty")
    generate(folder, 900, 23, fault_rate=0.5, sql="sqlite")
    return folder


def _manifest(folder: Path) -> list[dict[str, Any]]:
    faults: list[dict[str, Any]] = json.loads((folder / "faults_manifest.json").read_text(encoding="utf-8"))["faults"]
    return faults


def _sources(folder: Path) -> tuple[dict[str, list[dict[str, Any]]], dict[str, list[bytes]], dict[str, list[Any]]]:
    cantho: dict[str, list[dict[str, Any]]] = {}
    with sqlite3.connect(folder / "cantho.db") as conn:
        for (item,) in conn.execute("SELECT item FROM hoso ORDER BY rid"):
            cantho.setdefault(json.loads(item)["MaHoSo"], []).append(json.loads(item))
    haugiang: dict[str, list[bytes]] = {}
    for path in sorted((folder / "haugiang").glob("hoso_*.csv")):
        for line in path.read_bytes().removeprefix(b"\xef\xbb\xbf").split(b"\r\n")[1:]:
            if line:
                code = line.split(b",")[1].decode("ascii")
                haugiang.setdefault(code, []).append(line)
    soctrang: dict[str, list[Any]] = {}
    conn = sqlite3.connect(folder / "soctrang.db")
    conn.row_factory = sqlite3.Row
    for row in conn.execute("SELECT * FROM tb_hoso ORDER BY id"):
        soctrang.setdefault(row["ma_hs"], []).append(row)
    conn.close()
    return cantho, haugiang, soctrang


def _haugiang_cells(line: bytes) -> dict[str, str]:
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError:
        text = line.decode("cp1258")
    cells = next(csv.reader(io.StringIO(unicodedata.normalize("NFC", text))))
    return dict(zip(HAUGIANG_COLUMNS, cells, strict=True))


def test_every_manifest_fault_is_really_in_its_record(out: Path) -> None:
    cantho, haugiang, soctrang = _sources(out)
    people = _names()
    real_units = {_folded_unit(f"{p.type_} {p.name}") for p in _places()}
    faults = _manifest(out)
    seen: set[tuple[str, str]] = set()
    for f in faults:
        source, code, kind, field = f["source"], f["source_id"], f["fault"], f["field"]
        seen.add((source, kind))
        if kind == "transfer":
            codes = {"cantho": set(cantho), "haugiang": set(haugiang), "soctrang": set(soctrang)}
            assert f["detail"] != source and code in codes[f["detail"]], f
            continue
        if source == "cantho":
            items = cantho[code]
            assert len(items) == (2 if kind == "duplicate_row" else 1), f
            value: Any = items[0].get(field) if field else None
            if kind == "invalid_date":
                assert _impossible(value, "%Y%m%d%H%M%S"), f
            elif kind == "unknown_unit":
                assert value.startswith("99"), f
            elif kind == "missing_field":
                assert value is None, f
            elif kind == "wrong_encoding":
                assert TELLTALES & set(value), f
                assert field == garbled_field(items[0]["ChuHoSo"], "ChuHoSo", "DiaChi"), f
        elif source == "haugiang":
            lines = haugiang[code]
            assert len(lines) == (2 if kind == "duplicate_row" else 1), f
            cells = _haugiang_cells(lines[0])
            value = cells.get(field, "") if field else ""
            if kind == "invalid_date":
                assert _impossible(value, "%d/%m/%Y"), f
            elif kind == "unknown_unit":
                assert _folded_unit(value.split(", ")[0]) not in real_units, f
            elif kind == "misspelled_unit":
                head = value.split(", ")[0]
                if f["detail"] == "no diacritics":
                    assert head.isascii() and _folded_unit(head) in real_units, f
                else:
                    assert f["detail"] == "letter dropped" and _folded_unit(head) not in real_units, f
            elif kind == "missing_field":
                assert value == "", f
            elif kind == "wrong_encoding":
                with pytest.raises(UnicodeDecodeError):
                    lines[0].decode("utf-8")
                assert cells["Người nộp"] in people, f  # read as cp1258 nothing is lost
                assert field == garbled_field(cells["Người nộp"], "Người nộp", "Địa chỉ"), f
        else:
            rows = soctrang[code]
            assert len(rows) == (2 if kind == "duplicate_row" else 1), f
            value = rows[0][field] if field else None
            if kind == "invalid_date":
                assert _impossible(value, "%Y-%m-%d %H:%M:%S"), f
            elif kind == "unknown_unit":
                assert value.startswith("99"), f
            elif kind == "missing_field":
                assert value is None, f
                if field == "ma_huyen":  # only where the agency has a unit: a province department has none
                    assert int(rows[0]["ma_co_quan"].split(".")[2]) >= 31 or rows[0]["ma_co_quan"][4:6] != "00", f
            elif kind == "wrong_encoding":
                assert TELLTALES & set(value), f
                assert field == garbled_field(rows[0]["ho_ten"], "ho_ten", "dia_chi"), f
    assert {kind for _, kind in seen} == set(catalog_faults()), seen
    assert {s for s, _ in seen} == set(catalog.SOURCES)


def catalog_faults() -> tuple[str, ...]:
    from hopnhat.legacy.record import FAULT_TYPES

    return FAULT_TYPES


def test_records_outside_the_manifest_are_clean(out: Path) -> None:
    cantho, haugiang, soctrang = _sources(out)
    listed = {(f["source"], f["source_id"]) for f in _manifest(out) if f["fault"] not in ("transfer", "duplicate_row")}
    for code, items in cantho.items():
        if ("cantho", code) not in listed:
            assert not any(TELLTALES & set(str(v)) for v in items[0].values()), code
            assert not _impossible(items[0]["NgayTiepNhan"], "%Y%m%d%H%M%S"), code
    for code, lines in haugiang.items():
        if ("haugiang", code) not in listed:
            lines[0].decode("utf-8")
            assert _haugiang_cells(lines[0])["Mã thủ tục"], code
    for code, rows in soctrang.items():
        if ("soctrang", code) not in listed:
            assert rows[0]["ma_tthc"] and rows[0]["ngay_nhan"] and not TELLTALES & set(rows[0]["ho_ten"]), code


def test_xlsx_twin_shows_a_wrong_encoding_as_mojibake_in_the_named_field(out: Path) -> None:
    bad = [f for f in _manifest(out) if f["source"] == "haugiang" and f["fault"] == "wrong_encoding"]
    assert bad
    found = 0
    for path in sorted((out / "haugiang").glob("hoso_*.xlsx")):
        book = openpyxl.load_workbook(path, read_only=True)
        rows = [[c or "" for c in row] for row in book["HoSo"].iter_rows(values_only=True)]
        book.close()
        by_code = {row[1]: dict(zip(HAUGIANG_COLUMNS, row, strict=True)) for row in rows[1:]}
        for f in bad:
            if f["source_id"] in by_code:
                row = by_code[f["source_id"]]
                assert TELLTALES & set(row[f["field"]]), f
                others = [v for k, v in row.items() if k != f["field"]]
                assert not any(TELLTALES & set(v) for v in others), f  # only the named field is damaged
                found += 1
    assert found == len(bad)


def test_a_tick_rerenders_a_still_faulty_record_with_the_same_fault(tmp_path: Path) -> None:
    """An open faulty dossier that moves on keeps its fault, in the same field (the manifest stays true)."""
    generate(tmp_path, 300, 29, fault_rate=0.6, sql="sqlite", xlsx=False)
    before = {(f["source"], f["source_id"]): f for f in _manifest(tmp_path)}
    report = tick(tmp_path, 900, new_per_hour=0, corrections_per_hour=0)
    cantho, _, soctrang = _sources(tmp_path)
    still_faulty: dict[str, Callable[[Any], bool]] = {
        "wrong_encoding": lambda v: bool(TELLTALES & set(v)),
        "missing_field": lambda v: v is None,
        "unknown_unit": lambda v: v.startswith("99"),
        "invalid_date": lambda v: _impossible(v, "%Y%m%d%H%M%S") and _impossible(v, "%Y-%m-%d %H:%M:%S"),
    }
    checked = 0
    for source, rows in (("cantho", cantho), ("soctrang", soctrang)):
        for code in report.codes[source]:
            f = before.get((source, code))
            if f is None or f["fault"] not in still_faulty:
                continue
            record = dict(rows[code][0])
            assert still_faulty[f["fault"]](record.get(f["field"])), f
            checked += 1
    assert checked, "no faulty open record moved on during the tick: the test proves nothing"
