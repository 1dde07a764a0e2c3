"""The generated systems follow FORMATS.md: what the sync connectors will read."""

from __future__ import annotations

import csv
import io
import json
import re
import sqlite3
import tomllib
import unicodedata
from collections import Counter
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from sqlalchemy import create_engine, text

from hopnhat.legacy import catalog
from hopnhat.legacy.generator import generate
from hopnhat.legacy.systems import HAUGIANG_COLUMNS, drop_mariadb, mariadb_reachable
from hopnhat.registry.loader import data_text

DOSSIERS = 600
SEED = 11


@pytest.fixture(scope="module")
def out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("legacy")
    generate(folder, DOSSIERS, SEED, fault_rate=0.2, sql="sqlite")
    return folder


def cantho_items(folder: Path) -> list[dict[str, Any]]:
    conn = sqlite3.connect(folder / "cantho.db")
    try:
        return [json.loads(item) for (item,) in conn.execute("SELECT item FROM hoso ORDER BY rid")]
    finally:
        conn.close()


def haugiang_lines(folder: Path) -> list[bytes]:
    lines: list[bytes] = []
    for path in sorted((folder / "haugiang").glob("hoso_*.csv")):
        raw = path.read_bytes()
        assert raw.startswith(b"\xef\xbb\xbf"), f"{path.name} has no UTF-8 BOM"
        lines += [line for line in raw[3:].split(b"\r\n")[1:] if line]
    return lines


def haugiang_rows(folder: Path) -> list[dict[str, str]]:
    rows = []
    for line in haugiang_lines(folder):
        try:
            decoded = line.decode("utf-8")
        except UnicodeDecodeError:
            continue
        rows.append(dict(zip(HAUGIANG_COLUMNS, next(csv.reader([decoded])), strict=True)))
    return rows


def manifest(folder: Path) -> list[dict[str, Any]]:
    data = json.loads((folder / "faults_manifest.json").read_text(encoding="utf-8"))
    assert data["seed"] == SEED
    faults: list[dict[str, Any]] = data["faults"]
    return faults


def test_sources_toml_describes_three_sources(out: Path) -> None:
    config = tomllib.loads((out / "sources.toml").read_text(encoding="utf-8"))
    sources = config["sources"]
    assert {name: s["connector"] for name, s in sources.items()} == {
        "cantho": "http_api",
        "haugiang": "files",
        "soctrang": "sql",
    }
    assert {s["province_code"] for s in sources.values()} == {"92", "93", "94"}
    assert Path(sources["haugiang"]["path"]).is_absolute() and Path(sources["haugiang"]["path"]).is_dir()
    engine = create_engine(sources["soctrang"]["url"])
    with engine.connect() as conn:
        assert conn.execute(text("SELECT COUNT(*) FROM tb_hoso")).scalar_one() > 0
    engine.dispose()


def test_expected_counts_match_what_a_reader_finds(out: Path) -> None:
    expected = json.loads((out / "expected.json").read_text(encoding="utf-8"))
    sources = expected["sources"]
    assert len(cantho_items(out)) == sources["cantho"]["rows"]
    assert len(haugiang_lines(out)) == sources["haugiang"]["rows"]
    conn = sqlite3.connect(out / "soctrang.db")
    assert conn.execute("SELECT COUNT(*) FROM tb_hoso").fetchone()[0] == sources["soctrang"]["rows"]
    conn.close()
    transfers = sum(s["faults"].get("transfer", 0) for s in sources.values())
    assert sum(s["distinct_ids"] for s in sources.values()) == DOSSIERS + transfers
    for name, counts in sources.items():
        assert sum(counts["by_status"].values()) == counts["distinct_ids"], name
        assert 0 < counts["open"] < counts["distinct_ids"] * 0.2, name  # a few percent still open


def test_cantho_items_use_portal_fields_and_real_old_units(out: Path) -> None:
    faulty = {(f["source_id"]) for f in manifest(out) if f["source"] == "cantho"}
    old_units = {r["commune_code"] for r in csv.DictReader(io.StringIO(data_text("units_before_2025-07-01.csv")))}
    old_units |= {r["district_code"] for r in csv.DictReader(io.StringIO(data_text("units_before_2025-07-01.csv")))}
    old_units |= {"92", "93", "94"}
    clean = [i for i in cantho_items(out) if i["MaHoSo"] not in faulty]
    assert clean
    for item in clean:
        assert re.fullmatch(r"\d{3}\.\d{2}\.\d{2}\.H(13|28|51)-\d{6}-\d{4}", item["MaHoSo"])
        assert item["MaHoSo"].startswith(item["MaCoQuan"] + "-")
        assert 1 <= item["TrangThaiHoSo"] <= 10
        assert re.fullmatch(r"\d{14}", item["NgayCapNhat"])
        assert "20230101000000" <= item["NgayTiepNhan"] <= "20250701000000"
        assert item["MaDonVi"] in old_units
        assert re.fullmatch(r"\d{12}", item["SoCCCD"])
    assert {i["TrangThaiHoSo"] for i in clean} >= {10, 3}
    assert any(i["MaTTHC"] == "1.001193" for i in clean)


def test_haugiang_exports_are_vietnamese_csv_with_xlsx_twins(out: Path) -> None:
    rows = haugiang_rows(out)
    words = set(catalog.STATUS_WORDS.values())
    nfd = 0
    for row in rows:
        nfc_row = {k: unicodedata.normalize("NFC", v) for k, v in row.items()}
        nfd += nfc_row != row
        assert nfc_row["Trạng thái"] in words
        assert not nfc_row["Đơn vị"].isdigit()
    assert 0 < nfd < len(rows) / 2, "some rows, not all, are decomposed Unicode"
    dates = [r["Ngày tiếp nhận"] for r in rows if r["Ngày tiếp nhận"]]
    assert all(re.fullmatch(r"\d{2}/\d{2}/\d{4}", d) for d in dates)
    for path in sorted((out / "haugiang").glob("hoso_*.csv"))[:20]:
        raw = path.read_bytes()
        try:
            decoded = raw.decode("utf-8-sig")
        except UnicodeDecodeError:
            continue  # carries a cp1258 row; its twin holds mojibake instead
        from_csv = list(csv.reader(io.StringIO(decoded, newline="")))
        book = openpyxl.load_workbook(path.with_suffix(".xlsx"), read_only=True)
        from_xlsx = [[c or "" for c in row] for row in book["HoSo"].iter_rows(values_only=True)]
        book.close()
        assert from_xlsx == from_csv, path.name


def test_sotrang_database_uses_its_own_status_codes(out: Path) -> None:
    conn = sqlite3.connect(out / "soctrang.db")
    own = dict(conn.execute("SELECT ma, ten FROM dm_trang_thai").fetchall())
    assert own == catalog.SOCTRANG_STATUS_NAMES
    statuses = {s for (s,) in conn.execute("SELECT DISTINCT trang_thai FROM tb_hoso")}
    assert statuses <= set(own) and 6 in statuses  # 6 = returned, the national 10
    conn.close()


def test_every_fault_is_recorded_and_visible_in_its_source(out: Path) -> None:
    faults = manifest(out)
    kinds = Counter(f["fault"] for f in faults)
    assert set(kinds) == {
        "transfer",
        "duplicate_row",
        "invalid_date",
        "unknown_unit",
        "misspelled_unit",
        "missing_field",
        "wrong_encoding",
    }
    items: dict[str, list[dict[str, Any]]] = {}
    for item in cantho_items(out):
        items.setdefault(item["MaHoSo"], []).append(item)
    lines = haugiang_lines(out)
    conn = sqlite3.connect(out / "soctrang.db")
    conn.row_factory = sqlite3.Row
    for f in faults:
        code = f["source_id"]
        if f["source"] == "cantho":
            found = items[code]
            if f["fault"] == "duplicate_row":
                assert len(found) == 2
            elif f["fault"] == "invalid_date":
                value = found[0][f["field"]]
                assert value[4:8] in ("0230", "0231") or value[4:6] == "13"
            elif f["fault"] == "missing_field":
                assert found[0].get(f["field"]) is None
            elif f["fault"] == "wrong_encoding":
                assert "Ã" in found[0][f["field"]] or "á»" in found[0][f["field"]]
        elif f["source"] == "haugiang":
            mine = [line for line in lines if code.encode() in line]
            assert mine, code
            if f["fault"] == "wrong_encoding":
                with pytest.raises(UnicodeDecodeError):
                    mine[0].decode("utf-8")
            elif f["fault"] == "duplicate_row":
                assert len(mine) == 2
        else:
            rows = conn.execute("SELECT * FROM tb_hoso WHERE ma_hs = ?", (code,)).fetchall()
            assert rows, code
            if f["fault"] == "duplicate_row":
                assert len(rows) == 2
            elif f["fault"] == "missing_field":
                assert rows[0][f["field"]] is None
            elif f["fault"] == "unknown_unit":
                assert rows[0]["ma_xa"].startswith("99")
    conn.close()
    transfer = next(f for f in faults if f["fault"] == "transfer")
    assert transfer["detail"] in catalog.SOURCES and transfer["detail"] != transfer["source"]


def test_same_seed_same_data_other_seed_other_data(out: Path, tmp_path: Path) -> None:
    again = tmp_path / "again"
    generate(again, DOSSIERS, SEED, fault_rate=0.2, sql="sqlite")
    assert cantho_items(again) == cantho_items(out)
    assert haugiang_lines(again) == haugiang_lines(out)
    assert manifest(again) == manifest(out)
    other = tmp_path / "other"
    generate(other, DOSSIERS, SEED + 1, fault_rate=0.2, sql="sqlite")
    assert cantho_items(other) != cantho_items(out)


@pytest.mark.skipif(not mariadb_reachable(), reason="MariaDB at 127.0.0.1:3306 is not running")
def test_soctrang_on_mariadb(tmp_path: Path) -> None:
    summary = generate(tmp_path, 300, 5, fault_rate=0.3, sql="mariadb", xlsx=False)
    try:
        assert summary.sql_url.startswith("mysql+pymysql://root@127.0.0.1:3306/hopnhat_legacy_")
        engine = create_engine(summary.sql_url)
        with engine.connect() as conn:
            assert conn.execute(text("SELECT COUNT(*) FROM tb_hoso")).scalar_one() == summary.sources["soctrang"].rows
            names = conn.execute(text("SELECT ho_ten FROM tb_hoso WHERE ho_ten LIKE :p"), {"p": "Nguyễn%"}).all()
            assert names and all(unicodedata.is_normalized("NFC", n) for (n,) in names)
        engine.dispose()
        bad_dates = [f for f in manifest_of(tmp_path) if f["source"] == "soctrang" and f["fault"] == "invalid_date"]
        assert bad_dates
        engine = create_engine(summary.sql_url)
        with engine.connect() as conn:
            query = text(f"SELECT {bad_dates[0]['field']} FROM tb_hoso WHERE ma_hs = :c")
            value = conn.execute(query, {"c": bad_dates[0]["source_id"]}).scalar_one()
        engine.dispose()
        assert str(value).startswith("0000-00-00")
    finally:
        drop_mariadb(summary.sql_url)


def manifest_of(folder: Path) -> list[dict[str, Any]]:
    faults: list[dict[str, Any]] = json.loads((folder / "faults_manifest.json").read_text(encoding="utf-8"))["faults"]
    return faults


def test_haugiang_unit_names_resolve_to_exactly_one_old_unit(out: Path) -> None:
    """Clean rows name their unit so that a reader with the old unit list finds one unit, never zero or two."""
    from hopnhat.registry.text import fold

    full = {abbr: word for word, abbr in catalog.ABBREVIATIONS.items()}

    def expand(part: str) -> str:
        head, _, rest = part.partition(" ")
        return f"{full.get(head, head)} {rest}"

    units = list(csv.DictReader(io.StringIO(data_text("units_before_2025-07-01.csv"))))
    faulty = {
        f["source_id"] for f in manifest(out) if f["fault"] in ("unknown_unit", "misspelled_unit", "missing_field")
    }
    checked = 0
    for row in haugiang_rows(out):
        if row["Mã hồ sơ"] in faulty:
            continue
        parts = [fold(expand(unicodedata.normalize("NFC", p))) for p in row["Đơn vị"].split(", ")]
        province = "93"
        for code, name in catalog.PROVINCE_NAME.items():
            if parts and parts[-1] == fold(name):
                province = code
                parts = parts[:-1]
        if not parts:
            continue  # a province-level procedure
        mine = [u for u in units if u["province_code"] == province]
        if len(parts) == 2:
            found = [u for u in mine if fold(u["commune_name"]) == parts[0] and fold(u["district_name"]) == parts[1]]
        else:
            communes = {u["commune_code"] for u in mine if fold(u["commune_name"]) == parts[0]}
            districts = {u["district_code"] for u in mine if fold(u["district_name"]) == parts[0]}
            found = [*communes, *districts]
        assert len(found) == 1, row["Đơn vị"]
        checked += 1
    assert checked > 50
