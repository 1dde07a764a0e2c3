"""A malformed CSV in Hậu Giang's export folder: a bad row is quarantined with its raw bytes and the file goes on;
an unreadable header fails that source alone, naming the file and the line; the other sources still sync."""

from __future__ import annotations

import base64
import shutil
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from hopnhat.legacy import generate
from hopnhat.store.models import Dossier
from hopnhat.sync import service
from hopnhat.sync.connectors.files import FilesConnector
from hopnhat.sync.models import QuarantinedRecord
from tests.sync.helpers import identity_holds, store

# Each breaks the CSV grammar in a way the lenient reader would have turned into shifted or truncated cells, or
# into csv.Error out of the whole run: a bare LF in an unquoted field, an unterminated quote, text after a quote.
BAD_LINES = (b"1,bad\nrow,x", b'2,"unterminated,x', b'3,"ab"c,x')


@pytest.fixture(scope="module")
def export(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("legacy")
    generate(out, dossiers=120, seed=11, fault_rate=0.0, sql="sqlite", xlsx=False)
    return out


def _with_bad_lines(export: Path, folder: Path) -> tuple[Path, int]:
    """A copy of the export whose first CSV gets the bad lines in its middle; the file and the first bad line."""
    shutil.copytree(export / "haugiang", folder)
    first = sorted(folder.glob("hoso_*.csv"))[0]
    lines = first.read_bytes().split(b"\r\n")
    assert len(lines) > 2, "the first day's file has no row: the test would prove nothing"
    lines[2:2] = BAD_LINES
    first.write_bytes(b"\r\n".join(lines))
    return first, 3


def test_bad_rows_come_back_as_problems_with_their_raw_bytes_and_the_file_goes_on(export: Path, tmp_path: Path) -> None:
    clean = list(FilesConnector({"path": str(export / "haugiang")}).extract(None))
    broken_file, line = _with_bad_lines(export, tmp_path / "haugiang")
    records = list(FilesConnector({"path": str(tmp_path / "haugiang")}).extract(None))
    flagged = [r for r in records if r.problems]
    assert len(records) == len(clean) + len(BAD_LINES)
    assert sorted(r.source_id for r in records if not r.problems) == sorted(r.source_id for r in clean)
    assert [base64.b64decode(r.payload["raw_base64"]) for r in flagged] == list(BAD_LINES)
    for n, r in enumerate(flagged):
        assert r.payload["file"] == broken_file.name and r.payload["line"] == line + n
        assert r.problems == [r.problems[0]] and r.problems[0].startswith(
            f"malformed CSV in {broken_file.name} line {line + n}: "
        )


def test_a_row_with_another_cell_count_than_the_header_is_flagged(tmp_path: Path) -> None:
    folder = tmp_path / "hg"
    folder.mkdir()
    (folder / "hoso_20250101.csv").write_bytes(
        b"\xef\xbb\xbfSTT,M\xc3\xa3 h\xe1\xbb\x93 s\xc6\xa1\r\n1,A-1,extra\r\n2,A-2\r\n"
    )
    records = list(FilesConnector({"path": str(folder)}).extract(None))
    assert [(r.source_id, r.problems) for r in records] == [
        ("A-1", ["malformed CSV in hoso_20250101.csv line 2: 3 cells, the header has 2"]),
        ("A-2", []),
    ]


def test_malformed_rows_are_quarantined_and_a_file_without_header_is_reported_once_then_replayed(
    export: Path, tmp_path: Path, store_url: str
) -> None:
    engine = store(store_url)
    config = service.load_config(export / "sources.toml")
    good = dict(config["haugiang"])
    rows = dict(good, path=str(_with_bad_lines(export, tmp_path / "rows")[0].parent))
    header = tmp_path / "header"
    shutil.copytree(export / "haugiang", header)
    broken = sorted(header.glob("hoso_*.csv"))[-1]
    original = broken.read_bytes()
    lines = [line for line in original.split(b"\r\n")[1:] if line.strip()]
    assert lines, "the last day's file has no row: the test would prove nothing"
    broken.write_bytes(b'STT,"M\xc3\xa3 h\xe1\xbb\x93 s\xc6\xa1\r\n' + original.partition(b"\r\n")[2])
    sources = {"broken_header": dict(good, path=str(header)), "bad_rows": rows, "haugiang": good}

    _, results = service.run(engine, sources)

    problem = f"file {broken.name}: no header row holding Mã hồ sơ in its first 50 lines (encoding utf-8-sig, "
    assert results["broken_header"]["state"] == "done"
    assert [w[: len(problem)] for w in results["broken_header"]["warnings"]] == [problem]
    assert results["broken_header"]["quarantined"] == results["haugiang"]["quarantined"] + len(lines) + 1
    assert results["haugiang"]["state"] == "done" and results["bad_rows"]["state"] == "done"
    assert results["bad_rows"]["quarantined"] == results["haugiang"]["quarantined"] + len(BAD_LINES)
    assert identity_holds(results["bad_rows"]) and identity_holds(results["broken_header"])
    with Session(engine) as session:
        held = session.scalars(select(QuarantinedRecord).where(QuarantinedRecord.source == "bad_rows")).all()
        whole = session.scalars(
            select(QuarantinedRecord).where(
                QuarantinedRecord.source == "broken_header", QuarantinedRecord.source_id.like(f"{broken.name}#%")
            )
        ).all()
    raw = sorted(base64.b64decode(q.payload["raw_base64"]) for q in held if "raw_base64" in q.payload)
    assert raw == sorted(BAD_LINES)
    assert len(whole) == len(lines) + 1 and all(q.reasons[0].startswith(problem) for q in whole)

    # The file fixed, a replay (a full read) loads its rows and resolves the file's quarantine entries.
    broken.write_bytes(original)
    _, again = service.run(engine, {"broken_header": sources["broken_header"]}, full=True)
    assert "warnings" not in again["broken_header"]
    codes = {line.split(b",")[1].decode() for line in lines}
    with Session(engine) as session:
        states = {
            q.state
            for q in session.scalars(
                select(QuarantinedRecord).where(QuarantinedRecord.source_id.like(f"{broken.name}#%"))
            )
        }
        stored = set(session.scalars(select(Dossier.code).where(Dossier.code.in_(codes))))
    assert states == {"resolved"} and stored == codes
    engine.dispose()
