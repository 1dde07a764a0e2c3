"""Passwords, sessions, accounts, texts and charts: the pieces under the pages."""

from __future__ import annotations

import re
import unicodedata
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.orm import Session

from hopnhat.config import Settings
from hopnhat.continuity.centers import resolve_center
from hopnhat.continuity.models import Center
from hopnhat.errors import Conflict, InvalidInput
from hopnhat.i18n import REASONS, TEXTS, pick_lang, translate, translate_reason
from hopnhat.identity import passwords
from hopnhat.identity import service as identity
from hopnhat.web import auth, charts


def test_password_hash_is_salted_and_verifies() -> None:
    first, second = passwords.hash_password("mật khẩu dài"), passwords.hash_password("mật khẩu dài")
    assert first != second  # a fresh salt each time
    assert "mật khẩu" not in first
    assert passwords.verify_password("mật khẩu dài", first)
    assert not passwords.verify_password("mật khẩu dàii", first)
    assert not passwords.verify_password("x", "not-a-hash")


def test_session_cookie_rejects_tampering_other_keys_and_expiry(db: Session) -> None:
    """Sessions are kept in the store: the cookie is a random token, only its hash is stored; a changed, unknown,
    ended, idle or expired one is nobody. The sign-in form's token is signed with the key: another key refuses it."""
    settings = Settings(session_idle_minutes=30, session_absolute_hours=2)
    user = identity.add_user(db, "admin", "mat-khau-rat-dai-123", "administrator")
    started = identity.start_session(db, user, settings)
    assert started.token not in started.row.token_hash
    live = identity.read_session(db, started.token, settings)
    assert live is not None and live[1].username == "admin"
    assert identity.read_session(db, started.token[:-1] + ("A" if started.token[-1] != "A" else "B"), settings) is None
    assert identity.read_session(db, "garbage", settings) is None
    assert identity.read_session(db, None, settings) is None
    assert identity.read_session(db, "x" * 101, settings) is None
    # Idle past the limit, or past the absolute end however active: over.
    started.row.last_seen_at = datetime.now(UTC) - timedelta(minutes=31)
    assert identity.read_session(db, started.token, settings) is None
    assert started.row.ended_at is not None
    again = identity.start_session(db, user, settings)
    again.row.expires_at = datetime.now(UTC) - timedelta(seconds=1)
    assert identity.read_session(db, again.token, settings) is None
    # Signed out: over.
    third = identity.start_session(db, user, settings)
    assert identity.end_session(db, third.token) is not None
    assert identity.read_session(db, third.token, settings) is None
    # A disabled account's session is over.
    fourth = identity.start_session(db, user, settings)
    identity.set_active(db, "admin", False)
    assert identity.read_session(db, fourth.token, settings) is None

    value = auth.new_presignin()
    token = auth.presignin_token("key-1", value)
    assert auth.presignin_ok("key-1", value, token)
    assert not auth.presignin_ok("key-2", value, token)
    # Change the last character to another one (replacing it with a fixed one failed when it already was that one).
    assert not auth.presignin_ok("key-1", value[:-1] + ("A" if value[-1] != "A" else "B"), token)
    assert not auth.presignin_ok("key-1", value, token[:-1] + ("0" if token[-1] != "0" else "1"))
    assert not auth.presignin_ok("key-1", None, token)
    assert not auth.presignin_ok("key-1", value, "")


def test_account_rules(db: Session) -> None:
    db.add(Center(code="31120", name="Trung tâm Phục vụ hành chính công Phường Cái Khế", agency_code="000.00.31.H92"))
    db.add(Center(code="31135", name="Trung tâm Phục vụ hành chính công Phường Ninh Kiều"))
    db.flush()
    good = "mat-khau-rat-dai-123"
    officer = identity.add_user(db, "officer", good, "center_officer", centers=["000.00.31.H92"])
    assert officer.center_code == "000.00.31.H92"
    # The commune code names the same center; the agency code (what dossiers carry) is stored. Resolving it is the
    # caller's (`hopnhat users add` does it through the continuity part's centers).
    assert resolve_center(db, "31120").agency_code == "000.00.31.H92"
    assert resolve_center(db, "000.00.31.H92").code == "31120"
    with pytest.raises(InvalidInput, match="neither the agency code nor the commune code"):
        resolve_center(db, "000.00.99.H92")
    with pytest.raises(InvalidInput, match=r"31135 .* has no agency code yet"):
        resolve_center(db, "31135")
    with pytest.raises(Conflict, match="officer already exists"):
        identity.add_user(db, "officer", good, "administrator")
    with pytest.raises(InvalidInput, match="needs --center"):
        identity.add_user(db, "x", good, "center_officer")
    with pytest.raises(InvalidInput, match="needs --unit"):
        identity.add_user(db, "x", good, "processing_officer")
    with pytest.raises(InvalidInput, match="only center and processing officers belong to a center or unit"):
        identity.add_user(db, "y", good, "administrator", centers=["000.00.31.H92"])
    with pytest.raises(InvalidInput, match="role 'boss'"):
        identity.add_user(db, "z", good, "boss")
    with pytest.raises(InvalidInput, match="at least 12"):
        identity.add_user(db, "w", "mat-khau-12", "administrator")
    with pytest.raises(InvalidInput, match="most common"):
        identity.add_user(db, "w", "password1234", "administrator")
    with pytest.raises(InvalidInput, match="must not contain the username"):
        identity.add_user(db, "nguyen.van.a", "nguyen.van.a-2025", "administrator")
    with pytest.raises(InvalidInput, match="username"):
        identity.add_user(db, "a b", good, "administrator")
    assert identity.authenticate(db, "officer", good, "192.0.2.1").username == "officer"
    with pytest.raises(InvalidInput, match="wrong username or password"):
        identity.authenticate(db, "officer", "wrong-password", "192.0.2.1")
    with pytest.raises(InvalidInput, match="wrong username or password"):
        identity.authenticate(db, "nobody", good, "192.0.2.1")
    identity.set_active(db, "officer", False)
    with pytest.raises(InvalidInput, match="wrong username or password"):
        identity.authenticate(db, "officer", good, "192.0.2.1")


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
    assert widths == [95.0, 190.0]


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
        ("1 quarantined record not resolved", "1 bản ghi cách ly chưa được xử lý"),
        ("1 open dossier whose unit has no successor", "1 hồ sơ đang mở có đơn vị không có đơn vị kế thừa"),
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
        # the sync's quarantine reasons (stored as text): read back into their code and values
        ("unknown unit 99999", "giá trị 99999 của trường đơn vị không có trong danh mục"),
        ("unknown unit '31120' on 2025-07-01", "không có đơn vị '31120' vào ngày 01/07/2025"),
        ("invalid date in due_at: '31/02'", "ngày không hợp lệ ở trường hạn giải quyết: '31/02'"),
        ("wrong encoding in applicant_name", "sai bảng mã ở trường họ tên người nộp"),
        ("missing procedure code", "thiếu mã thủ tục"),
        ("no heartbeat ever received", "chưa nhận được tín hiệu hoạt động nào"),
        ("HTTP 503 from source", "HTTP 503 from source"),  # a source's own message: shown as it is
    ],
)
def test_reasons_from_services_read_in_vietnamese_and_stay_english_in_english(english: str, vietnamese: str) -> None:
    assert translate_reason(english, "vi") == vietnamese
    assert translate_reason(english, "en") == english


def test_reason_templates_are_nfc() -> None:
    for _pattern, template in REASONS:
        assert unicodedata.is_normalized("NFC", template), template


def test_panel_pages_its_rows_and_bounds_the_page_asked() -> None:
    from starlette.requests import Request

    from hopnhat.web.common import panel

    def asking(query: bytes) -> Request:
        return Request({"type": "http", "method": "GET", "path": "/p", "query_string": query, "headers": []})

    rows = [{"id": i, "n": i, "applicant_name": "x"} for i in range(23)]
    last = panel(asking(b"x_page=999"), "T", "x", lambda: rows)
    assert (last.page, last.pages, last.total, last.columns) == (3, 3, 23, ["n"])  # no id, no personal data
    assert [r[0] for r in last.rows] == [20, 21, 22]
    assert last.page_url(asking(b"x_page=999&q=a"), 2) == "/p?q=a&x_page=2#p-x"
    assert panel(asking(b"x_page=abc"), "T", "x", lambda: rows).page == 1
    assert panel(asking(b""), "T", "x", list).pages == 1


def test_imports_go_one_way_into_the_pages() -> None:
    """Only the application (and the CLI's command list) reach into hopnhat.web; a part's page module never imports
    another page module's routes, only the shared helpers and the services (a rename breaks mypy, not a page)."""
    import ast
    from pathlib import Path

    import hopnhat

    root = Path(hopnhat.__file__).parent
    upward = []
    for path in root.rglob("*.py"):
        rel = path.relative_to(root).as_posix()
        if rel.startswith("web/") or rel in ("app.py", "cli.py"):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            names += [a.name for a in node.names] if isinstance(node, ast.Import) else []
            upward += [f"{rel}: {n}" for n in names if n == "hopnhat.web" or n.startswith("hopnhat.web.")]
    assert upward == []
    common = ast.parse((root / "web" / "common.py").read_text(encoding="utf-8"))
    imported = {n.module for n in ast.walk(common) if isinstance(n, ast.ImportFrom)}
    assert not {m for m in imported if m and m.startswith("hopnhat.web.") and m != "hopnhat.web.auth"}
    assert not (root / "web" / "sources.py").exists()  # no lookup of services by name in strings


def test_every_code_a_page_shows_has_its_words() -> None:
    """The values of the parts' enumerations that pages show read in both languages (an untranslated one would
    show as its code; the page walk catches those it meets, this catches the rest)."""
    from typing import get_args

    from hopnhat.continuity.schemas import Criticality, Decision, TaskStatus
    from hopnhat.i18n import TEXTS
    from hopnhat.identity.roles import Role
    from hopnhat.registry.convert import Status as Conversion
    from hopnhat.web.sync_pages import ReplayOutcome

    codes = [*get_args(Decision), *get_args(Criticality), *get_args(TaskStatus), *(str(s) for s in Conversion)]
    codes += [str(r) for r in Role] + ["running", "done", "failed", "skipped", "commune", "district", "province"]
    assert [c for c in codes if f"v_{c}" not in TEXTS] == []
    assert [o for o in ReplayOutcome if o is not ReplayOutcome.REPLAYED and f"replay_{o}" not in TEXTS] == []
