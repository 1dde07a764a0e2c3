"""Passwords, session cookies, texts and charts: the pieces under the pages."""

from __future__ import annotations

import re
import unicodedata

import pytest
from sqlalchemy.orm import Session

from hopnhat.continuity.models import Center
from hopnhat.errors import Conflict, InvalidInput
from hopnhat.web import auth, charts
from hopnhat.web.i18n import REASONS, TEXTS, pick_lang, translate, translate_reason


def test_password_hash_is_salted_and_verifies() -> None:
    first, second = auth.hash_password("mật khẩu dài"), auth.hash_password("mật khẩu dài")
    assert first != second  # a fresh salt each time
    assert "mật khẩu" not in first
    assert auth.verify_password("mật khẩu dài", first)
    assert not auth.verify_password("mật khẩu dàii", first)
    assert not auth.verify_password("x", "not-a-hash")


def test_session_cookie_rejects_tampering_other_keys_and_expiry(db: Session) -> None:
    user = auth.add_user(db, "admin", "12345678", "administrator")
    cookie = auth.session_cookie("key-1", user, now=1_000_000)
    assert auth.read_cookie("key-1", cookie, now=1_000_001) is not None
    assert auth.read_cookie("key-1", cookie, now=1_000_001)[0] == "admin"  # type: ignore[index]
    assert auth.read_cookie("key-2", cookie, now=1_000_001) is None
    body, mac = cookie.split(".")
    assert auth.read_cookie("key-1", body[:-2] + "AA." + mac, now=1_000_001) is None
    assert auth.read_cookie("key-1", cookie, now=1_000_000 + auth.SESSION_MAX_AGE + 1) is None
    assert auth.read_cookie("key-1", "garbage", now=1_000_001) is None


def test_account_rules(db: Session) -> None:
    db.add(Center(code="31120", name="Trung tâm Phục vụ hành chính công Phường Cái Khế", agency_code="000.00.31.H92"))
    db.add(Center(code="31135", name="Trung tâm Phục vụ hành chính công Phường Ninh Kiều"))
    db.flush()
    assert auth.add_user(db, "officer", "12345678", "center_officer", "000.00.31.H92").center_code == "000.00.31.H92"
    # The commune code names the same center; the agency code (what dossiers carry) is stored.
    assert auth.add_user(db, "officer2", "12345678", "center_officer", "31120").center_code == "000.00.31.H92"
    with pytest.raises(InvalidInput, match="neither the agency code nor the commune code"):
        auth.add_user(db, "officer3", "12345678", "center_officer", "000.00.99.H92")
    with pytest.raises(InvalidInput, match=r"31135 .* has no agency code yet"):
        auth.add_user(db, "officer4", "12345678", "center_officer", "31135")
    with pytest.raises(Conflict, match="officer already exists"):
        auth.add_user(db, "officer", "12345678", "administrator")
    with pytest.raises(InvalidInput, match="needs --center"):
        auth.add_user(db, "x", "12345678", "center_officer")
    with pytest.raises(InvalidInput, match="only a center officer"):
        auth.add_user(db, "y", "12345678", "administrator", "000.00.31.H92")
    with pytest.raises(InvalidInput, match="role 'boss'"):
        auth.add_user(db, "z", "12345678", "boss")
    with pytest.raises(InvalidInput, match="at least 8"):
        auth.add_user(db, "w", "short", "administrator")
    with pytest.raises(InvalidInput, match="username"):
        auth.add_user(db, "a b", "12345678", "administrator")
    assert auth.authenticate(db, "officer", "12345678") is not None
    assert auth.authenticate(db, "officer", "wrong-password") is None
    assert auth.authenticate(db, "nobody", "12345678") is None


def test_texts_are_complete_nfc_and_accented() -> None:
    for key, (vi, en) in TEXTS.items():
        assert vi and en, key
        assert unicodedata.is_normalized("NFC", vi), key
    # Vietnamese without diacritics would read as a different (or no) word: spot-check the words that carry them.
    assert translate("lookup", "vi") == "Tra cứu hồ sơ"
    assert translate("overdue", "vi") == "Quá hạn"
    assert translate("lookup", "en") == "Dossier lookup"
    assert pick_lang(None, None) == "vi"
    assert pick_lang("en", "vi") == "en"
    assert pick_lang("fr", "en") == "en"


def test_bar_chart_scales_bars_and_escapes_labels() -> None:
    svg = str(charts.bar_chart("Tỷ lệ <đúng hạn>", [("A", 50.0), ("B<script>", 100.0)], unit="%", max_value=100))
    assert svg.startswith('<svg class="chart" role="img"')
    assert "<title>Tỷ lệ &lt;đúng hạn&gt;</title>" in svg
    assert "<script>" not in svg
    widths = [float(w) for w in re.findall(r'<rect x="\d+" y="[\d.]+" width="([\d.]+)"', svg)]
    assert widths == [130.0, 260.0]


def test_line_chart_draws_one_line_per_series() -> None:
    svg = str(charts.line_chart("Uptime", ["01/07", "02/07", "03/07"], [("LGSP", [100, 50, 100]), ("DVC", [0, 0, 0])]))
    assert svg.count("<polyline") == 2
    points = re.findall(r'points="([^"]+)"', svg)[0].split()
    ys = [float(p.split(",")[1]) for p in points]
    assert ys[0] == ys[2] < ys[1]  # 100 % is drawn higher than 50 %


@pytest.mark.parametrize(
    ("english", "vietnamese"),
    [
        ("no checks yet", "chưa có lần kiểm tra nào"),
        ("never synced", "chưa đồng bộ lần nào"),
        ("changes not yet synced: 3 missing, 1 changed", "còn thay đổi chưa đồng bộ: thiếu 3, khác 1"),
        ("4 quarantined records not resolved", "4 bản ghi cách ly chưa được xử lý"),
        ("2 open dossiers whose unit has no successor", "2 hồ sơ đang mở có đơn vị không có đơn vị kế thừa"),
        ("sync lag above 60 minutes", "độ trễ đồng bộ vượt 60 phút"),
        ("deadline 2025-07-10 passed", "đã quá hạn chót 10/07/2025"),
        ("deadline in 3 days", "còn 3 ngày đến hạn chót"),
        ("depends on K1, which is late", "phụ thuộc nhiệm vụ K1 đang bị trễ"),
        (
            "cut-over of soctrang: no verdict yet (run `hopnhat cutover check`)",
            "chuyển đổi nguồn soctrang: chưa có kết luận (chạy `hopnhat cutover check`)",
        ),
        (
            "cut-over of soctrang not ready (checked 01/07/2025 08:05): never synced; HTTP 503 from source",
            "chuyển đổi nguồn soctrang chưa sẵn sàng (kết luận lúc 01/07/2025 08:05): chưa đồng bộ lần nào; "
            "HTTP 503 from source",
        ),
        ("staff list recorded after 2025-06-30", "danh sách nhân sự lập sau ngày 30/06/2025"),
        ("no staff list (due 2025-06-30)", "chưa có danh sách nhân sự (hạn 30/06/2025)"),
        ("no operating regulation (due 2025-07-10)", "chưa có quy chế hoạt động (hạn 10/07/2025)"),
        (
            "regulation 02/QĐ-TTPVHCC issued 2025-07-15, after 2025-07-10",
            "quy chế 02/QĐ-TTPVHCC ban hành ngày 15/07/2025, sau hạn 10/07/2025",
        ),
        ("missing equipment: Máy in (0/1), Máy tính (1/2)", "thiếu trang thiết bị: Máy in (0/1), Máy tính (1/2)"),
        ("unknown unit 99999", "unknown unit 99999"),  # a source's own message: shown as it is
    ],
)
def test_reasons_from_services_read_in_vietnamese_and_stay_english_in_english(english: str, vietnamese: str) -> None:
    assert translate_reason(english, "vi") == vietnamese
    assert translate_reason(english, "en") == english


def test_reason_templates_are_nfc() -> None:
    for _pattern, template in REASONS:
        assert unicodedata.is_normalized("NFC", template), template
