"""Connectors read the formats as documented: the XLSX export equals the CSV one; NFD text is stored NFC."""

from __future__ import annotations

import unicodedata
from datetime import date
from pathlib import Path

from sqlalchemy.orm import Session

from hopnhat.legacy import generate
from hopnhat.sync.connectors.base import available, get_connector
from hopnhat.sync.engine import SourceContext, normalise
from hopnhat.sync.remap import Remapper


def test_builtin_connectors_are_registered() -> None:
    assert {"http_api", "sql", "files"} <= set(available())


def test_xlsx_and_csv_exports_give_the_same_records_normalised_to_nfc(tmp_path: Path, rdb: Session) -> None:
    generate(tmp_path, dossiers=150, seed=4, fault_rate=0.0, sql="sqlite", xlsx=True)
    folder = str(tmp_path / "haugiang")
    csv_rows = list(get_connector("files", {"path": folder, "pattern": "hoso_*.csv"}).extract(None))
    xlsx_rows = list(get_connector("files", {"path": folder, "pattern": "hoso_*.xlsx"}).extract(None))
    assert [r.source_id for r in csv_rows] == [r.source_id for r in xlsx_rows]
    assert len(csv_rows) > 10
    ctx = SourceContext("haugiang", "93", Remapper(rdb, date(2025, 8, 1)), None)
    decomposed = 0
    for a, b in zip(csv_rows, xlsx_rows, strict=True):
        pa, pb = normalise(ctx, a), normalise(ctx, b)
        assert pa.reasons == [] and pa.hash == pb.hash
        assert pa.values is not None
        name = str(a.fields["applicant_name"])
        decomposed += name != unicodedata.normalize("NFC", name)
        assert pa.values["applicant_name"] == unicodedata.normalize("NFC", name)
        assert pa.values["received_at"].utcoffset().total_seconds() == 7 * 3600
        assert pa.values["unit_code"] is not None or pa.values["needs_review"]
    assert decomposed > 0, "no NFD row in the export: the test would prove nothing"


def test_the_connector_interface_imports_no_connector() -> None:
    """Built-ins register through the entry points alone: the interface module imports none of them (it did, and
    they import it: a cycle)."""
    import subprocess
    import sys

    code = (
        "import sys, hopnhat.sync.connectors.base as b; "
        "assert not [m for m in sys.modules if m.startswith('hopnhat.sync.connectors.') and m != b.__name__], "
        "sorted(m for m in sys.modules if m.startswith('hopnhat.sync'))"
    )
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).returncode == 0
    found = available()
    assert found["files"].__module__ == "hopnhat.sync.connectors.files"
    assert found["http"] is found["http_api"]
