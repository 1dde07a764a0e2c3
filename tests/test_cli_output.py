"""The CLI prints for people: Vietnamese tables that fit 80 columns, names, local time, right plurals, no log lines
mixed into results; ``--json`` for scripts."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from hopnhat.cli_support import count, local_time, short_center, status_name, value


def test_counts_are_singular_or_plural_in_english_and_plain_in_vietnamese() -> None:
    assert count(1, "cli_n_records", "en") == "1 record"
    assert count(2, "cli_n_records", "en") == "2 records"
    assert count(1, "cli_n_open_dossiers", "en") == "1 open dossier"
    assert count(1, "cli_n_entries", "en") == "1 entry" and count(3, "cli_n_entries", "en") == "3 entries"
    assert count(1, "cli_n_records", "vi") == "1 bản ghi" and count(2, "cli_n_records", "vi") == "2 bản ghi"
    assert count(12_345, "cli_n_dossiers", "vi") == "12.345 hồ sơ"  # thousands grouped as in Vietnam


def test_times_are_vietnam_time_and_statuses_names() -> None:
    at = datetime(2025, 7, 1, 1, 30, tzinfo=UTC)
    assert local_time(at, "vi") == "01/07/2025 08:30"
    assert local_time(at.replace(tzinfo=None), "en") == "2025-07-01 08:30"  # SQLite hands UTC back naive
    assert local_time(None, "vi") == "-"
    assert status_name(5, "vi") == "Yêu cầu bổ sung" and status_name(5, "en") == "Supplement requested"
    assert value(True, "vi") == "Có" and value("up", "en") == "Up" and value("no-such-value", "vi") == "no-such-value"
    assert short_center("Trung tâm Phục vụ hành chính công thành phố Cần Thơ") == "Thành phố Cần Thơ"


def _hopnhat(tmp_path: Path, *args: str, lang: str = "vi") -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOPNHAT_")}
    env.update(COLUMNS="80", HOPNHAT_LANG=lang, HOPNHAT_DATABASE_URL=f"sqlite:///{tmp_path / 'cli.db'}")
    return subprocess.run(
        [sys.executable, "-c", "from hopnhat.cli import main; main()", *args],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    where = tmp_path_factory.mktemp("cli-output")
    done = _hopnhat(where, "centers", "seed")
    assert done.returncode == 0, done.stderr
    assert "INFO" not in done.stderr  # a one-shot command logs warnings only: no log line beside its result
    return where


def test_readiness_is_one_line_per_center_and_fits_80_columns(seeded: Path) -> None:
    done = _hopnhat(seeded, "centers", "readiness")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert all(len(line) <= 80 for line in lines), max(lines, key=len)
    assert "…" not in done.stdout  # no header cut
    assert "Sẵn sàng" in lines[0] and "Thiết bị" in lines[0]  # Vietnamese headers
    rows = [line for line in lines if line.lstrip().startswith(("3", "92 "))]
    assert len(rows) == 104  # one line per center, not one per center and reason
    assert lines[-1] == "0/104 trung tâm sẵn sàng"
    assert "staff" not in done.stdout and "missing" not in done.stdout  # no English left in Vietnamese output


def test_readiness_of_one_center_lists_its_reasons_and_json_is_for_scripts(seeded: Path) -> None:
    one = _hopnhat(seeded, "centers", "readiness", "--center", "31120")
    assert one.returncode == 0, one.stderr
    assert "Phường Cái Khế" in one.stdout and "- chưa có danh sách nhân sự (hạn 30/06/2025)" in one.stdout
    english = _hopnhat(seeded, "centers", "readiness", "--center", "31120", lang="en")
    assert "- no staff list (due 2025-06-30)" in english.stdout
    [row] = json.loads(_hopnhat(seeded, "centers", "readiness", "--center", "31120", "--json").stdout)
    assert row["ready"] is False and "no staff list (due 2025-06-30)" in row["reasons"]


def test_overdue_prints_a_table_and_json_on_demand(seeded: Path) -> None:
    table = _hopnhat(seeded, "dossiers", "overdue")
    assert table.returncode == 0, table.stderr
    assert table.stdout.strip() == "Không có hồ sơ quá hạn."  # no JSON for people
    assert json.loads(_hopnhat(seeded, "dossiers", "overdue", "--json").stdout) == []
