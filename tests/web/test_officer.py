"""The officer's pages over HTTP (TestClient): queues, intake, the dossier page and its actions, slips, scans,
and the citizen's lookup after each."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from hopnhat.app import create_app
from hopnhat.config import Settings
from hopnhat.db import ensure_schema, make_engine
from hopnhat.identity.models import AuditEntry
from hopnhat.store.models import Dossier, Status
from tests.identity_support import page_csrf, signin
from tests.web.officer_support import (
    INHERITED,
    INHERITED_NAME,
    NINH_KIEU,
    NINH_KIEU_NAME,
    NINH_KIEU_PHONE,
    OLD_ADDRESS,
    PASSWORD,
    UNIT,
    seed_center,
)

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


@dataclass
class Site:
    engine: Engine
    settings: Settings

    def client(self, username: str) -> TestClient:
        client = TestClient(create_app(self.settings, self.engine), follow_redirects=False)
        assert signin(client, username, PASSWORD).status_code == 303
        return client


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    folder = tmp_path_factory.mktemp("officer")
    url = f"sqlite:///{folder / 'store.db'}"
    engine = make_engine(url)
    ensure_schema(engine)
    seed_center(engine)
    settings = Settings(database_url=url, secret_key="officer-test-secret-0123456789", scan_max_mb=0.01)
    yield Site(engine, settings)
    engine.dispose()


def _receive(client: TestClient, **extra: object) -> str:
    csrf = page_csrf(client, "/officer/intake")
    form: dict[str, object] = {
        "csrf": csrf,
        "procedure_code": "1.001193",
        "channel": "1",
        "applicant_name": "Nguyễn Thị Khai Sinh",
        "applicant_id_type": "cccd",
        "applicant_id_number": "092190001234",
        "applicant_phone": "0909111222",
        "applicant_email": "khai.sinh@example.vn",
        "notice_consent": "1",
        "applicant_address": OLD_ADDRESS,
        "documents": ["TP1", "TP2"],
        **extra,
    }
    response = client.post("/officer/intake", data=form)
    assert response.status_code == 303, response.text
    match = re.match(r"/officer/dossiers/([^/]+)/slip/receipt", response.headers["location"])
    assert match, response.headers["location"]
    return match.group(1)


def _act(client: TestClient, code: str, **form: str) -> str:
    csrf = page_csrf(client, f"/officer/dossiers/{code}")
    response = client.post(f"/officer/dossiers/{code}/act", data={"csrf": csrf, **form})
    assert response.status_code == 303, response.text
    return response.headers["location"]


def test_intake_gives_a_receipt_with_a_qr_code_to_the_lookup(site: Site) -> None:
    officer = site.client("cb_nk")
    form = officer.get("/officer/intake")
    assert form.status_code == 200 and "Đăng ký khai sinh" in form.text and "TP1" in form.text
    code = _receive(officer)
    receipt = officer.get(f"/officer/dossiers/{code}/slip/receipt?new=1")
    assert receipt.status_code == 200
    assert "GIẤY TIẾP NHẬN HỒ SƠ VÀ HẸN TRẢ KẾT QUẢ" in receipt.text and "<svg" in receipt.text
    assert f"/lookup?code={code}" in receipt.text and NINH_KIEU_PHONE in receipt.text
    assert "Tờ khai đăng ký khai sinh" in receipt.text
    with Session(site.engine) as s:
        d = s.scalars(select(Dossier).where(Dossier.code == code)).one()
        assert (d.applicant_email, d.notice_consent, d.received_center_code) == (
            "khai.sinh@example.vn",
            True,
            NINH_KIEU,
        )
        slips = s.scalars(select(AuditEntry.action).where(AuditEntry.object_id == code)).all()
        assert "dossier.slip.receipt" in slips  # the slip names the applicant: printing it is an audited read


def test_an_address_that_cannot_be_converted_never_blocks_the_intake(site: Site) -> None:
    officer = site.client("cb_nk")
    code = _receive(officer, applicant_address="Phường 1, Cần Thơ", applicant_id_number="123")
    assert code.startswith(NINH_KIEU)
    suggestions = officer.get("/officer/address", params={"text": "Phường 1, Cần Thơ"}).json()
    assert len(suggestions["candidates"]) > 1  # the officer picks among them
    picked = officer.get("/officer/address", params={"text": OLD_ADDRESS}).json()
    assert picked["commune_code"] == "31135" and "Ninh Kiều" in picked["new_address"]


def test_the_day_of_a_dossier_through_its_actions_and_the_lookup(site: Site) -> None:
    officer = site.client("cb_nk")
    public = TestClient(create_app(site.settings, site.engine))
    code = _receive(officer)
    assert _act(officer, code, action="hand_off", holder_unit=UNIT, note="Chuyển phòng chuyên môn").endswith(
        "done=hand_off"
    )
    unit = site.client("xl_so")
    assert unit.get(f"/officer/dossiers/{code}").status_code == 200  # the unit sees what it holds
    _act(unit, code, action="hand_back", note="Đã thẩm định")
    location = _act(officer, code, action="request_supplement", items="Bản sao giấy chứng sinh\nTờ khai có chữ ký")
    assert "/slip/supplement" in location
    slip = officer.get(location)
    assert "PHIẾU YÊU CẦU BỔ SUNG" in slip.text and "Bản sao giấy chứng sinh" in slip.text
    page = public.get("/lookup", params={"code": code.lower()})
    assert "Bản sao giấy chứng sinh" in page.text and NINH_KIEU_NAME in page.text and NINH_KIEU_PHONE in page.text
    assert "Nguyễn Thị Khai Sinh" not in page.text and "092190001234" not in page.text
    _act(officer, code, action="supplement_received")
    _act(officer, code, action="finish")
    location = _act(officer, code, action="return_result", returned_to="Người nộp", return_method="at_counter")
    page = public.get("/lookup", params={"code": code})
    assert "Đã trả kết quả" in page.text
    dossier_page = officer.get(f"/officer/dossiers/{code}")
    assert "cb_nk" in dossier_page.text and "xl_so" in dossier_page.text  # who did what, on the timeline
    assert "Hồ sơ đã kết thúc" in dossier_page.text  # returned is final: no actions left


def test_a_refusal_needs_its_reason_and_the_lookup_shows_it(site: Site) -> None:
    officer = site.client("cb_nk")
    code = _receive(officer)
    location = _act(officer, code, action="refuse", reason="")
    assert "error=" in location and "reason" in location
    reason = "Thủ tục không thuộc thẩm quyền của phường"
    assert "/slip/refusal" in _act(officer, code, action="refuse", reason=reason)
    page = TestClient(create_app(site.settings, site.engine)).get("/lookup", params={"code": code})
    assert reason in page.text and "Từ chối" in page.text


def test_another_centers_officer_neither_sees_nor_acts(site: Site) -> None:
    code = _receive(site.client("cb_nk"))
    other = site.client("cb_ck")
    assert other.get(f"/officer/dossiers/{code}").status_code == 404
    assert other.get(f"/officer/dossiers/{code}/slip/receipt").status_code == 404
    csrf = page_csrf(other, "/officer")
    refused = other.post(f"/officer/dossiers/{code}/act", data={"csrf": csrf, "action": "start"})
    assert refused.status_code == 404
    assert code not in other.get("/officer?queue=all").text
    with Session(site.engine) as s:
        assert s.scalars(select(Dossier.status).where(Dossier.code == code)).one() == Status.RECEIVED


def test_actions_and_intake_need_the_form_token(site: Site) -> None:
    officer = site.client("cb_nk")
    code = _receive(officer)
    assert officer.post(f"/officer/dossiers/{code}/act", data={"action": "start"}).status_code == 403
    assert (
        officer.post("/officer/intake", data={"procedure_code": "1.001193", "applicant_name": "X"}).status_code == 403
    )


def test_queues_count_filter_and_search_within_the_center(site: Site) -> None:
    officer = site.client("cb_nk")
    code = _receive(officer, applicant_name="Phạm Văn Tìm Kiếm")
    page = officer.get("/officer?queue=today")
    assert page.status_code == 200 and code in page.text
    assert officer.get("/officer", params={"queue": "all", "code": code.lower()}).text.count("/officer/dossiers/") == 1
    csrf = page_csrf(officer, "/officer")
    found = officer.post("/officer/search", data={"csrf": csrf, "text": "Tìm Kiếm"})
    assert code in found.text
    other = site.client("cb_ck")
    csrf = page_csrf(other, "/officer")
    assert code not in other.post("/officer/search", data={"csrf": csrf, "text": "Tìm Kiếm"}).text
    with Session(site.engine) as s:
        assert s.scalars(select(AuditEntry).where(AuditEntry.action == "dossier.search")).first() is not None
    leader = site.client("ld_nk").get("/officer?queue=all")
    assert 'id="holders"' in leader.text


def test_an_inherited_overdue_dossier_is_in_its_centers_queue_with_the_apology(site: Site) -> None:
    officer = site.client("cb_nk")
    page = officer.get("/officer?queue=inherited")
    assert INHERITED in page.text and INHERITED_NAME in page.text
    assert f"/officer/dossiers/{INHERITED}/slip/apology" in page.text
    letter = officer.get(f"/officer/dossiers/{INHERITED}/slip/apology")
    assert letter.status_code == 200 and "PHIẾU XIN LỖI" in letter.text and INHERITED_NAME in letter.text
    assert INHERITED not in site.client("cb_ck").get("/officer?queue=inherited").text


def test_scans_are_checked_by_content_and_size_and_downloads_audited(site: Site) -> None:
    officer = site.client("cb_nk")
    code = _receive(officer)
    csrf = page_csrf(officer, f"/officer/dossiers/{code}")
    url = f"/officer/dossiers/{code}/scans"

    def upload(name: str, content: bytes, media: str, digitised: str = "") -> str:
        response = officer.post(
            url,
            data={"csrf": csrf, "document_code": "TP1", "digitised": digitised},
            files={"file": (name, content, media)},
        )
        assert response.status_code == 303
        return response.headers["location"]

    wrong = upload("giay-chung-sinh.pdf", PNG, "application/pdf")
    assert "error=" in wrong and "PDF" in wrong and "PNG" in wrong
    big = upload("to-khai.pdf", PDF + b"0" * 20_000, "application/pdf")
    assert "error=" in big and "limit" in big
    assert "done=scan" in upload("to-khai.pdf", PDF, "application/pdf", digitised="1")
    with Session(site.engine) as s:
        assert s.scalars(select(Dossier.digitised_documents).where(Dossier.code == code)).one() == 1
    page = officer.get(f"/officer/dossiers/{code}")
    scan_id = re.search(r'href="/officer/scans/(\d+)"', page.text)
    assert scan_id
    download = officer.get(f"/officer/scans/{scan_id.group(1)}")
    assert download.status_code == 200 and download.content == PDF
    assert site.client("cb_ck").get(f"/officer/scans/{scan_id.group(1)}").status_code == 404
    with Session(site.engine) as s:
        assert s.scalars(select(AuditEntry).where(AuditEntry.action == "dossier.scan.download")).first() is not None
    assert Path(site.settings.database_url.removeprefix("sqlite:///")).parent.joinpath("scans").is_dir()


def test_the_lookup_helps_when_a_code_is_not_found(site: Site) -> None:
    page = TestClient(create_app(site.settings, site.engine)).get("/lookup", params={"code": "000.00.99.H13-991231-9"})
    assert "Không tìm thấy" in page.text and "mã cơ quan" in page.text and "điện thoại" in page.text


def test_a_stop_gives_its_notice_and_the_lookup_its_reason(site: Site) -> None:
    officer = site.client("cb_nk")
    code = _receive(officer)
    _act(officer, code, action="start")
    reason = "Người nộp đề nghị dừng để bổ sung giấy tờ sau"
    location = _act(officer, code, action="stop", reason=reason)
    assert "/slip/stop" in location
    assert "THÔNG BÁO DỪNG XỬ LÝ HỒ SƠ" in officer.get(location).text
    page = TestClient(create_app(site.settings, site.engine)).get("/lookup", params={"code": code})
    assert reason in page.text and "Dừng xử lý" in page.text
