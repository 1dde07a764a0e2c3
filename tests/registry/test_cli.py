"""The ``registry`` and ``agencies`` commands through the real Typer app on a SQLite store."""

from __future__ import annotations

import json
import re
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from openpyxl import load_workbook
from typer.testing import CliRunner

from hopnhat.cli import app
from hopnhat.files import FileLimits, read_csv_rows, read_xlsx, write_csv

runner = CliRunner()


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    url = f"sqlite:///{tmp_path_factory.mktemp('cli') / 'registry.db'}"
    result = runner.invoke(app, ["--db", url, "registry", "load"])
    assert result.exit_code == 0, result.output
    yield url


def run(store: str, *args: str) -> tuple[int, str]:
    result = runner.invoke(app, ["--db", store, *args])
    return result.exit_code, result.output


def run_json(store: str, *args: str) -> object:
    code, out = run(store, *args, "--json")
    assert code == 0, out
    return json.loads(out)


def test_load_is_idempotent_and_prints_counts(store: str) -> None:
    out = run_json(store, "registry", "load")
    assert isinstance(out, dict)
    assert (out["units_added"], out["links_added"], out["agencies_added"]) == (0, 0, 0)
    # 63 + 34 provinces, 696 districts, 10,035 + 3,321 communes, and the 13 units of the later change sets.
    assert out["units_total"] == 63 + 34 + 696 + 10_035 + 3_321 + 13
    code, text = run(store, "registry", "load")
    assert code == 0 and re.search(r"Đơn vị hành chính +0 +0 +\d+", text), text  # units: added, closed, total


def test_show_reused_code(store: str) -> None:
    assert run_json(store, "registry", "show", "31120", "--on", "2025-06-30")["name"] == "Phường An Hòa"  # type: ignore[index]
    assert run_json(store, "registry", "show", "31120", "--on", "01/07/2025")["name"] == "Phường Cái Khế"  # type: ignore[index]
    code, text = run(store, "registry", "show", "31120", "--on", "2025-07-01")
    assert code == 0 and "Phường Cái Khế" in text


def test_lineage_commands(store: str) -> None:
    out = run_json(store, "registry", "successors", "31207")
    assert isinstance(out, dict)
    assert sorted((s["unit"]["code"], s["kind"]) for s in out["successors"]) == [("31207", "part"), ("31228", "part")]
    code, text = run(store, "registry", "predecessors", "31120", "--on", "2025-07-01")
    assert code == 0 and re.search(r"31178 +Phường Bùi Hữu Nghĩa +một phần", text), text  # a part of 31178


def test_search_and_stats(store: str) -> None:
    out = run_json(store, "registry", "search", "THOT NOT", "--on", "2025-07-01", "--limit", "3")
    assert isinstance(out, dict) and out["hits"][0]["unit"]["code"] == "31207"
    stats = run_json(store, "registry", "stats", "--province", "92", "--on", "2025-07-01")
    assert isinstance(stats, dict) and stats["by_level_and_type"]["commune"] == {"Phường": 31, "Xã": 72}
    old = run_json(store, "registry", "stats", "--province", "92,93", "--province", "94", "--on", "2025-06-30")
    assert isinstance(old, dict) and (old["by_level"]["commune"], old["by_level"]["district"]) == (263, 28)


def test_export_files(store: str, tmp_path: Path) -> None:
    target = tmp_path / "units.csv"
    code, text = run(
        store, "registry", "export", "--on", "2025-07-01", "--format", "csv", "--output", str(target), "--province=92"
    )
    assert code == 0, text
    assert (tmp_path / "units.lineage.csv").read_text(encoding="utf-8").count("\n") == 1 + 266 + 3 + 28
    xlsx = tmp_path / "registry.xlsx"
    code, text = run(store, "registry", "export", "--format", "xlsx", "--output", str(xlsx), "--on", "2025-07-01")
    assert code == 0, text
    assert load_workbook(xlsx).sheetnames == ["units", "lineage"]
    code, text = run(
        store, "registry", "export", "--format", "json", "--table", "units", "--on", "2025-07-01", "--province", "92"
    )
    assert code == 0 and len(json.loads(text)["units"]) == 104


def test_apply_changes_refuses_a_bad_file_whole(store: str, tmp_path: Path) -> None:
    bad = tmp_path / "changes.csv"
    bad.write_text("old_commune_code,old_commune_name\n31120,Phường Cái Khế\n", encoding="utf-8")
    code, text = run(store, "registry", "apply-changes", str(bad), "--effective", "2026-04-30", "--basis", "NQ")
    assert code == 1
    assert "line 1: missing column(s)" in text and "Traceback" not in text


CHANGES = (
    "old_commune_code,old_commune_name,old_district_code,old_province_code,new_commune_code,new_commune_name,kind,"
    "effective_date,legal_basis\n"
    "31120,Phường Cái Khế,,92,31120,Phường Ninh Kiều Bắc,whole,2026-01-01,Nghị quyết thử\n"
    "31135,Phường Ninh Kiều,,92,31120,Phường Ninh Kiều Bắc,whole,2026-01-01,Nghị quyết thử\n"
)


def test_apply_changes_valid_file_is_applied_once(tmp_path: Path) -> None:
    own = f"sqlite:///{tmp_path / 'changes.db'}"  # the module's store stays as bundled
    assert run(own, "registry", "load")[0] == 0
    good = tmp_path / "changes.csv"
    good.write_text(CHANGES, encoding="utf-8")
    out = run_json(own, "registry", "apply-changes", str(good))
    assert out == {
        "change_sets": 1,
        "rows": 2,
        "units_added": 1,
        "units_closed": 2,
        "events_added": 1,
        "links_added": 2,
    }
    again = run_json(own, "registry", "apply-changes", str(good))
    assert isinstance(again, dict) and again["units_added"] == again["links_added"] == 0
    assert run_json(own, "registry", "show", "31120", "--on", "2026-01-01")["name"] == "Phường Ninh Kiều Bắc"  # type: ignore[index]
    code, text = run(own, "registry", "load")
    assert code == 0 and re.search(r"Đơn vị hành chính +0 +0 ", text), text  # 0 units added, 0 closed
    preds = run_json(own, "registry", "predecessors", "31120")
    assert isinstance(preds, dict)
    assert sorted((p["unit"]["code"], p["kind"]) for p in preds["predecessors"]) == [
        ("31120", "whole"),
        ("31135", "whole"),
    ]


def test_export_and_a_safely_written_change_set_round_trip(tmp_path: Path) -> None:
    """A change set written by the safe writer, whose legal basis a spreadsheet would run as a formula, applies
    unchanged; the export then holds it as text, and read back gives the units of the store."""
    own = f"sqlite:///{tmp_path / 'round.db'}"
    assert run(own, "registry", "load")[0] == 0
    columns = [*CHANGES.splitlines()[0].split(",")]
    change = dict(zip(columns, CHANGES.splitlines()[1].split(","), strict=True))
    change.update(new_commune_name="Phường Ninh Kiều Nam", effective_date="2027-01-01", legal_basis="=NQ 1/2027")
    path = tmp_path / "changes.csv"
    path.write_text(write_csv([change], columns), encoding="utf-8")
    assert "'=NQ 1/2027" in path.read_text(encoding="utf-8")
    assert run_json(own, "registry", "apply-changes", str(path))["units_added"] == 1  # type: ignore[index]

    code, text = run(own, "registry", "export", "--format", "json", "--on", "2027-01-01")
    assert code == 0, text
    doc = json.loads(text)
    units, lineage = doc["units"], doc["lineage"]
    assert [u["name"] for u in units if u["code"] == "31120"] == ["Phường Ninh Kiều Nam"]
    assert {r["legal_basis"] for r in lineage if r["effective_date"] == "2027-01-01"} == {"=NQ 1/2027"}
    target = tmp_path / "units.csv"
    code, text = run(own, "registry", "export", "--format", "csv", "--on", "2027-01-01", "--output", str(target))
    assert code == 0, text
    as_text = [{k: "" if v is None else v for k, v in u.items()} for u in units]
    assert list(read_csv_rows(target, FileLimits())) == as_text
    lineage_csv = (tmp_path / "units.lineage.csv").read_text(encoding="utf-8")
    assert ",'=NQ 1/2027," in lineage_csv and ",=NQ" not in lineage_csv
    assert {r["legal_basis"] for r in read_csv_rows(tmp_path / "units.lineage.csv", FileLimits())} >= {"=NQ 1/2027"}
    book = tmp_path / "registry.xlsx"
    code, text = run(own, "registry", "export", "--format", "xlsx", "--on", "2027-01-01", "--output", str(book))
    assert code == 0, text
    sheets = read_xlsx(book, FileLimits())
    assert sheets["units"] == units
    assert {r["legal_basis"] for r in sheets["lineage"] if r["effective_date"] == "2027-01-01"} == {"=NQ 1/2027"}
    with zipfile.ZipFile(book) as archive:
        assert not any(b"<f>" in archive.read(n) for n in archive.namelist() if n.startswith("xl/worksheets/"))


def test_apply_changes_unreadable_files_are_one_line(store: str, tmp_path: Path) -> None:
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    latin = tmp_path / "latin1.csv"
    latin.write_bytes(CHANGES.encode("utf-8").split(b"\n", 1)[0] + b"\n31120,Ph\xf0\xf0ng,,92,31120,X,whole\n")
    binary = tmp_path / "binary.csv"
    binary.write_bytes(bytes(range(256)) * 8)
    cases = [
        (tmp_path, "is a directory"),
        (empty, "the file is empty"),
        (latin, "line 2: not UTF-8"),
        (binary, "not UTF-8"),
    ]
    for path, message in cases:
        code, text = run(store, "registry", "apply-changes", str(path))
        assert code == 1 and message in text and "Traceback" not in text, text
        assert len(text.strip().splitlines()) <= 2
    shown = run_json(store, "registry", "show", "31120", "--on", "2026-01-01")
    assert isinstance(shown, dict) and shown["name"] == "Phường Cái Khế"


def test_agencies_list_keeps_codes_whole(store: str) -> None:
    code, text = run(store, "agencies", "list", "--on", "2025-06-30", "--kind", "people_committee")
    assert code == 0
    # Rich wraps to 80 columns under the runner: the codes must not be cut with an ellipsis.
    assert "000.00.00.H28" in text and "000.00.00.H51" in text and "…" not in text


def test_agencies_issue_show_list(store: str) -> None:
    out = run_json(store, "agencies", "issue", "--decision", "QĐ 1/2025", "--date", "2025-07-01")
    assert isinstance(out, dict) and len(out["issued"]) == 206
    again = run_json(store, "agencies", "issue", "--date", "2025-07-02")
    assert isinstance(again, dict) and again["issued"] == [] and again["already_issued"] == 206
    shown = run_json(store, "agencies", "show", "000.00.00.H51", "--on", "2025-07-01")
    assert isinstance(shown, dict) and shown["current"]["code"] == "000.00.00.H13"
    code, text = run(store, "agencies", "show", "000.00.00.H51", "--on", "2025-07-01")
    assert code == 0 and "công việc do 000.00.00.H13" in text  # its work is carried by
    centers = run_json(store, "agencies", "list", "--kind", "service_center", "--on", "2025-07-01")
    assert isinstance(centers, list) and len(centers) == 103 + 1


MB = "x" * 1_000_000


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("registry", "show", "", "--on", "2025-07-01"), "unit code is empty"),
        (("registry", "show", "31120", "--on", "2025-13-45"), "not a valid date"),
        (("registry", "show", "99999", "--on", "2025-07-01"), "no unit has ever had code 99999"),
        (("registry", "show", MB), "is not a 2-digit province"),
        (("registry", "successors", "xyz"), "is not a 2-digit"),
        (("registry", "search", ""), "search text is empty"),
        (("registry", "search", "qxzqxzqxz", "--on", "2025-07-01"), "no unit active on 2025-07-01"),
        (("registry", "search", MB), "at most 200"),
        (("registry", "search", "cai khe", "--on", "yesterday"), "not a valid date"),
        (("registry", "stats", "--province", "abc"), "not a 2-digit province code"),
        (("registry", "export", "--format", "pdf", "--on", "2025-07-01"), "format 'pdf'"),
        (("registry", "export", "--format", "xlsx"), "give --output"),
        (("registry", "export", "--format", "csv", "--on", "2025-07-01"), "CSV holds one table"),
        (("registry", "apply-changes", "/nonexistent/changes.csv", "--effective", "2026-04-30"), "no such file"),
        (("agencies", "show", "gibberish"), "does not have the structure"),
        (("agencies", "show", MB), "at most 35"),
        (("agencies", "show", "000.00.77.H13"), "no agency has code"),
        (("agencies", "list", "--kind", "bank"), "kind 'bank'"),
        (("agencies", "issue", "--rule", "/nonexistent/rule.yaml"), "no such file"),
    ],
)
def test_bad_input_is_one_clear_line(store: str, args: tuple[str, ...], message: str) -> None:
    code, text = run(store, *args)
    assert code == 1, text
    assert message in text
    assert "Traceback" not in text
    assert len(text.strip().splitlines()) <= 2  # one line (Rich may wrap a long one)
    assert len(text) < 500
