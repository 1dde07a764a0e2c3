"""The ``registry`` and ``agencies`` commands through the real Typer app on a SQLite store."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from openpyxl import load_workbook
from typer.testing import CliRunner

from hopnhat.cli import app

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
    assert out["units_total"] == 3 + 1 + 28 + 263 + 103
    code, text = run(store, "registry", "load")
    assert code == 0 and "units: 0 added" in text


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
    assert code == 0 and "31178 Phường Bùi Hữu Nghĩa" in text and "part" in text


def test_search_and_stats(store: str) -> None:
    out = run_json(store, "registry", "search", "THOT NOT", "--on", "2025-07-01", "--limit", "3")
    assert isinstance(out, dict) and out["hits"][0]["unit"]["code"] == "31207"
    stats = run_json(store, "registry", "stats", "--province", "92", "--on", "2025-07-01")
    assert isinstance(stats, dict) and stats["by_level_and_type"]["commune"] == {"Phường": 31, "Xã": 72}
    old = run_json(store, "registry", "stats", "--province", "92,93", "--province", "94", "--on", "2025-06-30")
    assert isinstance(old, dict) and (old["by_level"]["commune"], old["by_level"]["district"]) == (263, 28)


def test_export_files(store: str, tmp_path: Path) -> None:
    target = tmp_path / "units.csv"
    code, text = run(store, "registry", "export", "--on", "2025-07-01", "--format", "csv", "--output", str(target))
    assert code == 0, text
    assert (tmp_path / "units.lineage.csv").read_text(encoding="utf-8").count("\n") == 1 + 266 + 3 + 28
    xlsx = tmp_path / "registry.xlsx"
    code, text = run(store, "registry", "export", "--format", "xlsx", "--output", str(xlsx), "--on", "2025-07-01")
    assert code == 0, text
    assert load_workbook(xlsx).sheetnames == ["units", "lineage"]
    code, text = run(store, "registry", "export", "--format", "json", "--table", "units", "--on", "2025-07-01")
    assert code == 0 and len(json.loads(text)["units"]) == 104


def test_apply_changes_refuses_a_bad_file_whole(store: str, tmp_path: Path) -> None:
    bad = tmp_path / "changes.csv"
    bad.write_text("old_commune_code,old_commune_name\n31120,Phường Cái Khế\n", encoding="utf-8")
    code, text = run(store, "registry", "apply-changes", str(bad), "--effective", "2026-04-30", "--basis", "NQ")
    assert code == 1
    assert "line 1: missing column(s)" in text and "Traceback" not in text


def test_agencies_issue_show_list(store: str) -> None:
    out = run_json(store, "agencies", "issue", "--decision", "QĐ 1/2025", "--date", "2025-07-01")
    assert isinstance(out, dict) and len(out["issued"]) == 206
    again = run_json(store, "agencies", "issue", "--date", "2025-07-02")
    assert isinstance(again, dict) and again["issued"] == [] and again["already_issued"] == 206
    shown = run_json(store, "agencies", "show", "000.00.00.H51", "--on", "2025-07-01")
    assert isinstance(shown, dict) and shown["current"]["code"] == "000.00.00.H13"
    code, text = run(store, "agencies", "show", "000.00.00.H51", "--on", "2025-07-01")
    assert code == 0 and "carried by 000.00.00.H13" in text
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
