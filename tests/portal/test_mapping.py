from __future__ import annotations

from datetime import UTC, datetime

import pytest

from hopnhat.errors import InvalidInput
from hopnhat.portal.mapping import (
    SERVICE_DOSSIER,
    SERVICE_STEP,
    identity_fields,
    missing_fields,
    parse_portal_date,
    portal_date,
    to_portal,
)

SNAPSHOT = {
    "code": "000.00.31.H13-260210-0001",
    "procedure_code": "1.001193",
    "procedure_name": "Đăng ký khai sinh",
    "field_code": "HT",
    "applicant_name": "Nguyễn Văn An",
    "applicant_type": 1,
    "channel": 2,
    "status": 10,
    "received_at": "2026-02-10T02:30:00+00:00",
    "due_at": "2026-02-12T10:00:00+00:00",
    "finished_at": "2026-02-11T08:00:00+00:00",
    "returned_at": "2026-02-11T17:05:09+00:00",
    "unit_code": "31117",
    "center_code": "000.00.31.H13",
    "documents": [{"TenTepDinhKem": "Tờ khai"}],
    "fees": [{"MaPhiLePhi": "LP01", "SoTien": 8000}],
    "supplements": [],
    "results": [{"TenGiayTo": "Giấy khai sinh"}],
    "origin": "native",
    "summary": "Đăng ký khai sinh cho con",
    "received_center_code": "000.00.32.H13",
    "submitted_at": "2026-02-09T15:00:00+00:00",
    "refused_at": None,
    "vneid_signin": True,
    "paid_online": True,
    "digitised_documents": 2,
}


def test_dates_go_out_in_vietnam_time() -> None:
    assert portal_date("2026-02-10T02:30:00+00:00") == "20260210093000"
    # 17:05 UTC is past midnight in Vietnam: the day changes
    assert portal_date(datetime(2026, 2, 11, 17, 5, 9, tzinfo=UTC)) == "20260212000509"
    assert portal_date(None) == ""
    assert parse_portal_date("20260212000509") == datetime(2026, 2, 11, 17, 5, 9, tzinfo=UTC)


def test_naive_or_garbled_dates_are_refused() -> None:
    with pytest.raises(InvalidInput, match="time zone"):
        portal_date(datetime(2026, 2, 10, 9, 30))
    with pytest.raises(InvalidInput, match="not an ISO"):
        portal_date("10/02/2026")


def test_dossier_event_maps_to_every_portal_field() -> None:
    service, record = to_portal("dossier", {"dossier": SNAPSHOT})
    assert service == SERVICE_DOSSIER
    assert record == {
        "MaHoSo": "000.00.31.H13-260210-0001",
        "MaTTHC": "1.001193",
        "TenTTHC": "Đăng ký khai sinh",
        "MaLinhVuc": "HT",
        "ChuHoSo": "Nguyễn Văn An",
        "LoaiDoiTuong": "1",
        "NgayTiepNhan": "20260210093000",
        "NgayHenTra": "20260212170000",
        "TrangThaiHoSo": "10",
        "NgayTra": "20260212000509",
        "DonViXuLy": "000.00.31.H13",
        "KenhThucHien": "2",
        "TaiLieuNop": [{"TenTepDinhKem": "Tờ khai"}],
        "DanhSachLePhi": [{"MaPhiLePhi": "LP01", "SoTien": 8000}],
        "DanhSachHoSoBoSung": [],
        "DanhSachGiayToKetQua": [{"TenGiayTo": "Giấy khai sinh"}],
        # Decision 766 fields, from the dossier's columns
        "TrichYeuHoSo": "Đăng ký khai sinh cho con",
        "NgayKetThucXuLy": "20260211150000",
        "NgayNopHoSo": "20260209220000",
        "NgayTuChoi": "",
        "NoiNopHoSo": "000.00.32.H13",
        "HoSoCoThanhPhanSoHoa": 1,
        "TaiKhoanDuocXacThucVoiVNeID": 1,
        "DuocThanhToanTrucTuyen": 1,
        # added by the relay at delivery from the dossier (the outbox keeps no identity numbers)
        "SoGiayToChuHoSo": "",
        "DinhDanhCHS": [],
        "Email": "",
    }
    assert missing_fields(service, record) == []


def test_free_text_is_cut_the_way_real_systems_cut_it() -> None:
    step = {"actor": "Nguyễn " * 20, "at": "2026-02-10T03:00:00+00:00", "to_status": 4}
    _, record = to_portal("step", {"dossier": SNAPSHOT, "step": step})
    assert len(record["NguoiXuLy"]) == 50 and record["NguoiXuLy"].startswith("Nguyễn Nguyễn")
    _, record = to_portal("dossier", {"dossier": {**SNAPSHOT, "summary": "à" * 1500}})
    assert record["TrichYeuHoSo"] == "à" * 1000


def test_identifiers_are_never_cut_but_refused_with_the_reason() -> None:
    with pytest.raises(InvalidInput, match=r"MaHoSo .* cannot be sent"):
        to_portal("dossier", {"dossier": {**SNAPSHOT, "code": "H13–260210–0001"}})  # en dashes from a spreadsheet
    _, mended = to_portal("dossier", {"dossier": {**SNAPSHOT, "code": "H13–260210–0001"}}, {"MaHoSo": "H13-1"})
    assert mended["MaHoSo"] == "H13-1"
    assert identity_fields("cccd", "092099001234") == {
        "SoGiayToChuHoSo": "092099001234",
        "DinhDanhCHS": [{"LoaiDinhDanh": 1, "SoDinhDanh": "092099001234"}],
    }
    assert identity_fields("cmnd", "361234567")["DinhDanhCHS"] == [{"LoaiDinhDanh": 2, "SoDinhDanh": "361234567"}]
    assert identity_fields("passport", "C1234567")["DinhDanhCHS"] == []
    with pytest.raises(InvalidInput, match="cccd number must be 12 digits"):
        identity_fields("cccd", "09209900123")


def test_unfinished_dossier_has_empty_return_date_and_falls_back_to_unit() -> None:
    snapshot = {**SNAPSHOT, "finished_at": None, "returned_at": None, "center_code": None, "status": 4}
    _, record = to_portal("dossier", {"dossier": snapshot})
    assert record["NgayTra"] == ""
    assert record["DonViXuLy"] == "31117"
    assert record["TrangThaiHoSo"] == "4"


def test_step_event_maps_to_step_fields() -> None:
    step = {
        "actor": "canbo.xa.ninhkieu",
        "at": "2026-02-10T03:00:00+00:00",
        "from_status": 2,
        "to_status": 4,
        "note": "Chuyển xử lý",
        "due_at": "2026-02-12T10:00:00+00:00",
    }
    service, record = to_portal("step", {"dossier": SNAPSHOT, "step": step})
    assert service == SERVICE_STEP
    assert record["MaHoSo"] == SNAPSHOT["code"]
    assert record["NguoiXuLy"] == "canbo.xa.ninhkieu"
    assert record["ThoiDiemXuLy"] == "20260210100000"
    assert record["NoiDungXuLy"] == "Chuyển xử lý"
    assert record["TrangThai"] == "4"
    assert record["NgayKetThucTheoQuyDinh"] == "20260212170000"


def test_events_the_portal_cannot_take_are_named() -> None:
    with pytest.raises(InvalidInput, match="kind 'merge'"):
        to_portal("merge", {"dossier": SNAPSHOT})
    with pytest.raises(InvalidInput, match="has no step"):
        to_portal("step", {"dossier": SNAPSHOT})
    _, record = to_portal("dossier", {"dossier": {**SNAPSHOT, "procedure_code": ""}})
    assert missing_fields(SERVICE_DOSSIER, record) == ["MaTTHC"]
