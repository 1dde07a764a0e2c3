"""The profiler drafts the right mapping for a vocabulary it was not written against (OpenCPS's field names, the
open-source one-stop system of several provinces), listing what it cannot map; ``sources check`` counts what a real
run quarantines."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

from typer.testing import CliRunner

from hopnhat.cli import app
from hopnhat.legacy import generate
from hopnhat.sync import service
from tests.sync.helpers import config, store

runner = CliRunner()

OPENCPS = [
    "dossierNo", "referenceUid", "serviceCode", "serviceName", "govAgencyCode", "govAgencyName", "applicantName",
    "applicantIdType", "applicantIdNo", "address", "cityCode", "wardCode", "contactTelNo", "contactEmail",
    "domainCode", "dossierStatus", "dossierStatusText", "submitDate", "receiveDate", "dueDate", "releaseDate",
    "modifiedDate",
]  # fmt: skip
EXPECTED = {
    "code": "dossierNo",
    "procedure_code": "serviceCode",
    "procedure_name": "serviceName",
    "agency_code": "govAgencyCode",
    "applicant_name": "applicantName",
    "applicant_id_type": "applicantIdType",
    "applicant_id_number": "applicantIdNo",
    "applicant_address": "address",
    "unit": "wardCode",
    "applicant_phone": "contactTelNo",
    "applicant_email": "contactEmail",
    "field_code": "domainCode",
    "status": "dossierStatus",
    "submitted_at": "submitDate",
    "received_at": "receiveDate",
    "due_at": "dueDate",
    "returned_at": "releaseDate",
}


def _opencps_export(folder: Path) -> Path:
    folder.mkdir()
    rows = []
    for i, (status, word) in enumerate([("2", "Đã tiếp nhận"), ("4", "Đang xử lý"), ("10", "Đã trả kết quả")]):
        rows.append(
            [
                f"H28.{i}-250605-000{i}", f"uid-{i}", "1.001193", "Đăng ký khai sinh", "000.00.31.H28", "UBND",
                "Lê Văn A", "CMND" if i else "CCCD", f"09200000000{i}", "Vị Thanh", "93", "31318", "0900000000",
                f"a{i}@example.vn", "HT", word, status, "05/06/2025 08:00", "05/06/2025 08:30", "20/06/2025",
                "19/06/2025 16:00" if status == "10" else "", "06/06/2025 10:00",
            ]
        )  # fmt: skip
    text = ";".join(OPENCPS) + "\n" + "\n".join(";".join(r) for r in rows) + "\n"
    file = folder / "opencps_20250606.csv"
    file.write_bytes(text.encode("utf-8"))
    return file


def test_the_profiler_maps_opencps_field_names_and_lists_the_rest(tmp_path: Path) -> None:
    file = _opencps_export(tmp_path / "opencps")
    result = runner.invoke(app, ["sources", "profile", str(file), "--json", "--name", "opencps"])
    assert result.exit_code == 0, result.output
    draft = json.loads(result.stdout)
    mapping = draft["source"]["mapping"]
    assert mapping["fields"] == EXPECTED
    assert mapping["id"] == "dossierNo" and mapping["updated"] == "modifiedDate"
    assert sorted(draft["unmapped_columns"]) == sorted(
        ["referenceUid", "govAgencyName", "cityCode", "dossierStatusText"]
    )
    # Value maps from the distinct words (folded), the identity paper types to their canonical codes.
    assert mapping["values"]["status"] == {"Đã tiếp nhận": 2, "Đang xử lý": 4, "Đã trả kết quả": 10}
    assert mapping["values"]["applicant_id_type"] == {"CCCD": "cccd", "CMND": "cmnd"}
    assert mapping["dates"]["formats"][:2] == ["%d/%m/%Y %H:%M", "%d/%m/%Y"]

    # The TOML draft, once its province is filled in, is a source the dry run reads without a quarantine.
    toml = runner.invoke(app, ["sources", "profile", str(file), "--name", "opencps"])
    text = toml.stdout.replace('province_code = "?"', 'province_code = "93"')
    parsed = tomllib.loads(text)
    assert parsed["sources"]["opencps"]["mapping"]["fields"] == EXPECTED


def test_sources_check_counts_what_a_real_run_quarantines(tmp_path: Path, store_url: str) -> None:
    out = tmp_path / "legacy"
    generate(out, dossiers=300, seed=21, fault_rate=0.15, sql="sqlite", xlsx=False)
    engine = store(store_url)
    cfg = out / "sources.toml"
    checked = runner.invoke(
        app, ["--db", store_url, "sources", "check", "-c", str(cfg), "--source", "haugiang", "--json"]
    )
    assert checked.exit_code == 0, checked.output
    report = json.loads(checked.stdout)["haugiang"]
    _, results = service.run(engine, {"haugiang": config(out)["haugiang"]})
    run = results["haugiang"]
    assert run["quarantined"] > 0, "no fault quarantined: the test would prove nothing"
    assert report["would_quarantine"] == run["quarantined"]
    assert report["records"] == run["extracted"]
    assert sum(report["reasons"].values()) >= report["would_quarantine"]
    assert report["fields"]["code"]["filled"] > 0.9 and report["fields"]["status"]["parsed"] > 0.9
    engine.dispose()


def test_the_profiler_maps_a_table_and_an_api_of_the_simulated_systems(tmp_path: Path) -> None:
    """Snake case in a database, CamelCase behind an API: the same meanings are found, the rest listed."""
    from hopnhat.legacy import serve_in_thread

    out = tmp_path / "legacy"
    generate(out, dossiers=60, seed=43, fault_rate=0.0, sql="sqlite", xlsx=False)
    url = config(out)["soctrang"]["url"]
    table = runner.invoke(app, ["sources", "profile", url, "--table", "tb_hoso", "--json"])
    assert table.exit_code == 0, table.output
    fields = json.loads(table.stdout)["source"]["mapping"]["fields"]
    assert {k: fields.get(k) for k in ("code", "applicant_name", "status", "received_at", "unit", "agency_code")} == {
        "code": "ma_hs",
        "applicant_name": "ho_ten",
        "status": "trang_thai",
        "received_at": "ngay_nhan",
        "unit": "ma_xa",
        "agency_code": "ma_co_quan",
    }
    assert "ma_huyen" in json.loads(table.stdout)["unmapped_columns"]
    with serve_in_thread(out, update_config=False) as server:
        api = runner.invoke(app, ["sources", "profile", f"{server.base_url}/api/hoso?page_size=50", "--json"])
    assert api.exit_code == 0, api.output
    drafted = json.loads(api.stdout)
    assert drafted["source"]["items"] == "$.items" and drafted["source"]["endpoint"] == "/api/hoso"
    assert drafted["source"]["mapping"]["fields"]["applicant_id_number"] == "SoCCCD"
    assert drafted["source"]["mapping"]["fields"]["status"] == "TrangThaiHoSo"
    assert drafted["source"]["mapping"]["updated"] == "NgayCapNhat"
    assert drafted["unmapped_columns"] == ["TenLinhVuc"]
