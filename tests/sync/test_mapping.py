"""Each mapping option, through a real sync on both stores: renamed columns, word and code value maps (folded), dates
in several formats with an Excel serial and ISO 8601, a title banner, `;` and tab delimiters, Windows-1258 and
UTF-16 files; nested JSON behind OAuth2 whose expired token is fetched again once, over real HTTP."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from hopnhat.config import VN_TZ
from hopnhat.legacy.systems import _cp1258
from hopnhat.store.models import Dossier
from hopnhat.sync import service
from hopnhat.sync.models import QuarantinedRecord
from tests.sync.helpers import identity_holds, store

HEADER = ["Số hồ sơ", "Mã TTHC", "Tên thủ tục", "Họ tên người nộp", "CCCD", "Tình trạng", "Kênh", "Ngày nhận"]
HEADER += ["Hạn trả", "Địa bàn", "Sửa lúc"]
EXCEL_DUE = 45839  # 2025-07-01 as an Excel serial
ROWS = [
    ["MP-1", "1.001193", "Đăng ký khai sinh", "Lê Thị Mai", "092000000001", "đang giải quyết", "tt"],
    ["MP-2", "1.001193", "Đăng ký khai sinh", "Trần Văn Hòa", "092000000002", "DXL", "Trực tuyến"],
    ["MP-3", "1.001193", "Đăng ký khai sinh", "Phạm Thị Lan", "092000000003", "Đã hủy", "TT"],
]
DATES = [
    ("05/06/2025 08:30", str(EXCEL_DUE)),
    ("2025-06-05T08:30:00+07:00", "20-06-2025"),
    ("06/06/2025 09:00", "21-06-2025"),
]
UNIT = "P. I, TP. Vị Thanh"

MAPPING = {
    "id": "Số hồ sơ",
    "updated": "Sửa lúc",
    "fields": {
        "code": "Số hồ sơ",
        "procedure_code": "Mã TTHC",
        "procedure_name": "Tên thủ tục",
        "applicant_name": "Họ tên người nộp",
        "applicant_id_number": "CCCD",
        "applicant_type": {"const": 1},
        "status": "Tình trạng",
        "channel": "Kênh",
        "received_at": "Ngày nhận",
        "due_at": "Hạn trả",
        "unit": "Địa bàn",
    },
    # By word (compared folded: "đang giải quyết" is "Đang giải quyết") and by code ("DXL", "TT").
    "values": {
        "status": {"Đang giải quyết": 4, "DXL": 9},
        "channel": {"TT": 1, "Trực tuyến": 2},
    },
    "dates": {"formats": ["%d/%m/%Y %H:%M", "%d-%m-%Y", "excel", "iso"], "timezone": "Asia/Ho_Chi_Minh"},
    "unit": {"by": "name"},
}


def _csv(delimiter: str, banner: bool) -> str:
    lines = ["BÁO CÁO HỒ SƠ THỦ TỤC HÀNH CHÍNH", "Đơn vị: Hậu Giang", ""] if banner else []
    lines.append(delimiter.join(HEADER))
    for row, (received, due) in zip(ROWS, DATES, strict=True):
        cells = [*row, received, due, f'"{UNIT}"', "07/06/2025 10:00"]
        lines.append(delimiter.join(cells))
    return "\r\n".join(lines) + "\r\n"


VARIANTS = {
    "windows-1258 ;": lambda: _cp1258(_csv(";", banner=False)),
    "utf-16 tab banner": lambda: _csv("\t", banner=True).encode("utf-16"),
    "utf-8 , banner": lambda: _csv(",", banner=True).encode("utf-8"),
}


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_a_mapped_export_loads_whatever_its_encoding_delimiter_and_banner(
    variant: str, tmp_path: Path, store_url: str
) -> None:
    folder = tmp_path / "export"
    folder.mkdir()
    (folder / "bao_cao_20250607.csv").write_bytes(VARIANTS[variant]())
    source = {"connector": "files", "province_code": "93", "path": str(folder), "pattern": "*.csv"}
    source |= {"encoding": "auto", "delimiter": "auto", "mapping": MAPPING}
    engine = store(store_url)
    _, results = service.run(engine, {"export": source})
    r = results["export"]
    assert r["state"] == "done" and "warnings" not in r and identity_holds(r), r
    assert (r["inserted"], r["quarantined"]) == (2, 1), r
    with Session(engine) as session:
        stored = {d.code: d for d in session.scalars(select(Dossier))}
        held = session.scalars(select(QuarantinedRecord)).one()
    assert held.source_id == "MP-3" and held.reasons == ["unknown status 'Đã hủy'"]
    one, two = stored["MP-1"], stored["MP-2"]
    assert (one.status, one.channel, two.status, two.channel) == (4, 1, 9, 2)
    assert one.applicant_name == "Lê Thị Mai" and two.applicant_name == "Trần Văn Hòa"
    assert one.received_at.astimezone(VN_TZ) == datetime(2025, 6, 5, 8, 30, tzinfo=VN_TZ)
    assert two.received_at.astimezone(VN_TZ) == datetime(2025, 6, 5, 8, 30, tzinfo=VN_TZ)
    assert one.due_at.astimezone(VN_TZ) == datetime(1899, 12, 30, tzinfo=VN_TZ) + timedelta(days=EXCEL_DUE)
    assert two.due_at.astimezone(VN_TZ) == datetime(2025, 6, 20, tzinfo=VN_TZ)
    assert one.unit_code is not None and one.unit_code == two.unit_code
    engine.dispose()


# ---------------------------------------------------------------- nested JSON behind OAuth2, over real HTTP

ITEMS = [
    {
        "hoSo": {"ma": f"API-{i}", "thuTuc": {"ma": "1.001193", "ten": "Đăng ký khai sinh"}, "trangThai": code},
        "nguoiNop": {"hoTen": f"Người Nộp {i}", "giayTo": {"loai": "CCCD", "so": f"0920000001{i:02d}"}},
        "lienHe": [{"kenh": "email", "giaTri": f"nguoi{i}@example.vn"}],
        "tepDinhKem": [{"ten": "to_khai.pdf"}, {"ten": "giay_to.pdf"}][: i % 3],
        "ngayNhan": "2025-06-05T08:30:00+07:00",
        "hanTra": "2025-06-20T17:00:00+07:00",
        "donVi": {"ma": "31318"},
        "capNhat": f"2025-06-05T09:{i:02d}:00+07:00",
    }
    for i, code in enumerate(["DA_TIEP_NHAN", "DANG_XU_LY", "DA_TIEP_NHAN", "DANG_XU_LY", "DA_TIEP_NHAN"])
]


class _Api(BaseHTTPRequestHandler):
    tokens: ClassVar[list[str]] = []
    """Tokens issued; the first one expires after the first page (the API answers 401 to it)."""
    pages = 0

    def log_message(self, *args: Any) -> None:
        return

    def _json(self, status: int, body: Any) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", 0))
        form = self.rfile.read(length).decode()
        if "grant_type=client_credentials" not in form or not self.headers.get("Authorization", "").startswith("Basic"):
            self._json(400, {"error": "invalid_request"})
            return
        token = f"t{len(self.tokens) + 1}"
        self.tokens.append(token)
        self._json(200, {"access_token": token, "token_type": "Bearer", "expires_in": 3600})

    def do_GET(self) -> None:
        token = self.headers.get("Authorization", "").removeprefix("Bearer ")
        expired = {"t1"} if type(self).pages >= 1 else set()
        if token not in self.tokens or token in expired:
            self._json(401, {"error": "invalid_token"})
            return
        type(self).pages += 1
        start = int(self.path.partition("start=")[2] or 0) if "start=" in self.path else 0
        page = ITEMS[start : start + 2]
        nxt = f"/v2/hoso?start={start + 2}" if start + 2 < len(ITEMS) else None
        self._json(200, {"data": {"records": page}, "links": {"next": nxt}})


@pytest.fixture
def api() -> Iterator[str]:
    _Api.tokens, _Api.pages = [], 0
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Api)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_nested_json_behind_oauth2_loads_and_an_expired_token_is_fetched_again_once(
    api: str, store_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = tmp_path / "client_secret"
    secret.write_text("s3cret\n")
    monkeypatch.setenv("HOPNHAT_TEST_CLIENT_ID_UNUSED", "x")
    source = {
        "connector": "http",
        "province_code": "93",
        "base_url": api,
        "endpoint": "/v2/hoso",
        "items": "$.data.records",
        "pagination": "next_link",
        "next_field": "$.links.next",
        "page_size": 2,
        "backoff_seconds": 0.01,
        "auth": {
            "kind": "oauth2",
            "token_url": f"{api}/oauth/token",
            "client_id": "hopnhat",
            "client_secret": {"file": str(secret)},
        },
        "mapping": {
            "id": "$.hoSo.ma",
            "updated": "capNhat",
            "fields": {
                "code": "$.hoSo.ma",
                "procedure_code": "$.hoSo.thuTuc.ma",
                "procedure_name": "$.hoSo.thuTuc.ten",
                "applicant_name": "$.nguoiNop.hoTen",
                "applicant_id_number": "$.nguoiNop.giayTo.so",
                "applicant_id_type": "$.nguoiNop.giayTo.loai",
                "applicant_email": "$.lienHe[0].giaTri",
                "digitised_documents": {"count": "$.tepDinhKem"},
                "status": "$.hoSo.trangThai",
                "received_at": "ngayNhan",
                "due_at": "hanTra",
                "unit": "$.donVi.ma",
            },
            "values": {
                "status": {"DA_TIEP_NHAN": 2, "DANG_XU_LY": 4},
                "applicant_id_type": {"CCCD": "cccd", "CMND": "cmnd"},
            },
            "dates": {"formats": ["iso"]},
        },
    }
    engine = store(store_url)
    _, results = service.run(engine, {"api": source})
    r = results["api"]
    assert r["state"] == "done" and identity_holds(r), r
    with Session(engine) as session:
        why = [q.reasons for q in session.scalars(select(QuarantinedRecord))]
    assert (r["inserted"], r["quarantined"]) == (len(ITEMS), 0), why
    assert _Api.tokens == ["t1", "t2"], "the expired token must be fetched again exactly once"
    with Session(engine) as session:
        stored = {d.code: d for d in session.scalars(select(Dossier))}
    first = stored["API-1"]
    assert (first.status, first.applicant_name, first.applicant_id_number) == (4, "Người Nộp 1", "092000000101")
    assert (first.applicant_id_type, first.applicant_email, first.digitised_documents) == (
        "cccd",
        "nguoi1@example.vn",
        1,
    )
    assert stored["API-2"].digitised_documents == 2 and stored["API-0"].digitised_documents == 0
    assert first.received_at.astimezone(VN_TZ) == datetime(2025, 6, 5, 8, 30, tzinfo=VN_TZ)
    engine.dispose()


def test_a_secret_written_inline_is_refused_without_printing_it(store_url: str) -> None:
    source = {
        "connector": "http",
        "province_code": "93",
        "base_url": "http://127.0.0.1:9",
        "auth": {"kind": "bearer", "token": "hunter2-inline"},
        "retries": 0,
    }
    engine = store(store_url)
    _, results = service.run(engine, {"api": source})
    assert results["api"]["state"] == "failed"
    assert "written inline" in results["api"]["error"] and "hunter2" not in results["api"]["error"]
    engine.dispose()
