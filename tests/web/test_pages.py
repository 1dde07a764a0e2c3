"""The pages through FastAPI's TestClient: public lookup, sign-in, access per role, languages, personal data."""

from __future__ import annotations

import re

from tests.identity_support import page_csrf, signin
from tests.web.conftest import CENTER_A, CENTER_B, PASSWORD, SECRET_ID, SECRET_NAME, Site

PROTECTED = [
    "/",
    "/registry",
    "/convert",
    "/sync",
    "/sync/quarantine",
    "/dossiers",
    "/systems",
    "/plan",
    "/centers",
    "/officer",
    "/officer/intake",
    "/portal",
    "/reports/766",
]

ALLOWED = {
    # The administrator reads dossiers through the audited views but does not receive or move them.
    "admin": set(PROTECTED) - {"/officer/intake"},
    # The quarantine holds personal data: the operator (no personal data) does not see it; the data steward does.
    "operator": {"/", "/registry", "/convert", "/sync", "/systems", "/plan", "/centers", "/portal", "/reports/766"},
    "steward": {"/sync", "/sync/quarantine", "/dossiers", "/officer"},
    "officer_a": {"/dossiers", "/officer", "/officer/intake"},
}


def test_public_lookup_shows_status_but_no_personal_data(site: Site) -> None:
    page = site.client().get("/lookup", params={"code": "H92.31-250801-0001"})
    assert page.status_code == 200
    assert "Đang xử lý" in page.text  # status 4 in Vietnamese
    assert "Đăng ký khai sinh" in page.text
    assert SECRET_NAME not in page.text
    assert SECRET_ID not in page.text
    assert "0909000111" not in page.text


def test_public_lookup_of_unknown_code_says_so(site: Site) -> None:
    page = site.client().get("/lookup", params={"code": "KHONG-CO-0000"})
    assert page.status_code == 200
    assert "Không tìm thấy hồ sơ có mã này." in page.text


def test_protected_pages_send_anonymous_users_to_sign_in(site: Site) -> None:
    client = site.client()
    for path in PROTECTED:
        response = client.get(path)
        assert response.status_code == 303, path
        assert response.headers["location"] == f"/signin?next={path}", path


def test_each_role_opens_exactly_its_pages(site: Site) -> None:
    for username, allowed in ALLOWED.items():
        client = site.client(username)
        opened = {path for path in PROTECTED if client.get(path).status_code == 200}
        refused = {path for path in PROTECTED if client.get(path).status_code == 403}
        assert opened == allowed, username
        assert refused == set(PROTECTED) - allowed, username


def test_officer_sees_only_own_center(site: Site) -> None:
    client = site.client("officer_a")
    page = client.get("/dossiers")
    assert page.status_code == 200
    assert "H92.31-250801-0001" in page.text
    assert "H92.32-250801-0001" not in page.text
    assert CENTER_B not in page.text
    assert client.get("/dossiers", params={"center": CENTER_B}).status_code == 403
    other = site.client("officer_b").get("/dossiers")
    assert "H92.32-250801-0001" in other.text and "H92.31-250801-0001" not in other.text


def test_officer_sees_dossiers_received_at_or_handled_by_their_center(site: Site) -> None:
    from hopnhat.db import session_scope
    from tests.web.conftest import dossier

    with session_scope(site.engine) as s:
        # Received at center A, handed to center B to handle: both centers' officers see it.
        s.add(dossier("H92.31-250801-0009", CENTER_B, received_center_code=CENTER_A))
    for username in ("officer_a", "officer_b"):
        client = site.client(username)
        assert "H92.31-250801-0009" in client.get("/dossiers").text, username
    a = site.client("officer_a")
    assert "H92.31-250801-0009" in a.get("/dossiers", params={"center": CENTER_A}).text
    assert "H92.32-250801-0001" not in a.get("/dossiers").text  # B's own dossier stays B's


def test_administrator_sees_every_center_and_overdue_flags(site: Site) -> None:
    client = site.client("admin")
    page = client.get("/dossiers")
    codes = ("H92.31-250801-0001", "H92.31-250801-0002", "H92.31-250801-0003", "H92.32-250801-0001")
    assert all(code in page.text for code in codes)
    overdue_rows = re.findall(r'<tr class="overdue"><td[^>]*>([^<]+)</td>', page.text)
    assert overdue_rows == ["H92.31-250801-0002"]
    only = client.get("/dossiers", params={"overdue": "1", "center": CENTER_A})
    assert "H92.31-250801-0002" in only.text and "H92.31-250801-0001" not in only.text
    assert "H92.31-250801-0003" not in only.text  # paused clock


def test_wrong_password_and_forged_cookie_are_refused(site: Site) -> None:
    client = site.client()
    response = signin(client, "admin", PASSWORD + "x")
    assert response.status_code == 401  # type: ignore[attr-defined]
    assert "Sai tên đăng nhập hoặc mật khẩu." in response.text  # type: ignore[attr-defined]
    client.cookies.set("hopnhat_session", "eyJ1IjoiYWRtaW4iLCJuIjoiMCIsImUiOjk5OTk5OTk5OTl9.forged")
    assert client.get("/").status_code == 303


def test_sign_in_without_the_forms_token_is_refused(site: Site) -> None:
    # Login CSRF: another site cannot post the form, as it cannot know the token bound to the pre-sign-in cookie.
    client = site.client()
    refused = client.post("/signin", data={"username": "admin", "password": PASSWORD})
    assert refused.status_code == 403
    assert "hopnhat_session" not in refused.cookies
    client.get("/signin")  # the cookie alone, with a token of another form, is not enough either
    forged = client.post("/signin", data={"username": "admin", "password": PASSWORD, "csrf": "0" * 64})
    assert forged.status_code == 403
    assert client.get("/").status_code == 303


def test_sign_in_returns_to_the_page_asked_for_but_never_to_another_site(site: Site) -> None:
    ok = signin(site.client(), "operator", PASSWORD, next="/systems")
    assert ok.headers["location"] == "/systems"  # type: ignore[attr-defined]
    evil = signin(site.client(), "operator", PASSWORD, next="//evil.test/")
    assert evil.headers["location"] == "/"  # type: ignore[attr-defined]


def test_officer_lands_on_dossiers_and_sign_out_ends_the_session(site: Site) -> None:
    client = site.client()
    response = signin(client, "officer_a", PASSWORD)
    assert response.headers["location"] == "/dossiers"  # type: ignore[attr-defined]
    # Sign-out is a change: without the session's form token (another site's form) it is refused.
    assert client.post("/signout").status_code == 403
    assert client.get("/dossiers").status_code == 200
    signed_out = client.post("/signout", data={"csrf": page_csrf(client, "/dossiers")})
    assert signed_out.status_code == 303
    # Feedback after the action: the lookup page says the session ended.
    assert "Bạn đã đăng xuất." in client.get(signed_out.headers["location"]).text
    assert client.get("/dossiers").status_code == 303


def test_replay_without_the_form_token_is_refused(site: Site) -> None:
    client = site.client("steward")
    assert client.post("/sync/quarantine/1/replay", data={"csrf": "wrong"}).status_code == 403
    assert client.post("/sync/quarantine/1/replay").status_code == 403
    # The operator may not replay at all, whatever the token (the quarantine is not theirs).
    operator = site.client("operator")
    token = page_csrf(operator, "/sync")
    assert operator.post("/sync/quarantine/1/replay", data={"csrf": token}).status_code == 403


def test_vietnamese_first_with_english_switch(site: Site) -> None:
    client = site.client()
    vi = client.get("/lookup")
    assert '<html lang="vi">' in vi.text and "Tra cứu hồ sơ" in vi.text
    en = client.get("/lookup", params={"lang": "en"})
    assert '<html lang="en">' in en.text and "Dossier lookup" in en.text
    # The choice is remembered in a cookie.
    again = client.get("/lookup")
    assert '<html lang="en">' in again.text


def test_address_converter_page(site: Site) -> None:
    client = site.client("operator")
    page = client.get(
        "/convert", params={"address": "12 Nguyễn Trãi, Phường An Hòa, Quận Ninh Kiều, Thành phố Cần Thơ"}
    )
    assert page.status_code == 200
    assert "12 Nguyễn Trãi, Phường Cái Khế, Thành phố Cần Thơ" in page.text
    empty = client.get("/convert", params={"address": " , "})
    assert empty.status_code == 200 and 'role="alert"' in empty.text


def test_overview_shows_consolidation_figures_and_chart(site: Site) -> None:
    page = site.client("admin").get("/")
    assert page.status_code == 200
    assert re.search(r'<span class="figure">4</span>\s*<a href="/dossiers">Tổng số hồ sơ</a>', page.text)
    assert re.search(r'<span class="figure">1</span>\s*Đã chuyển đổi', page.text)
    # No system was ever probed: the tiles say so, not a green "0 systems up".
    not_measured = r'<span class="figure muted">chưa đo</span>\s*<a href="/systems">Hệ thống hoạt động</a>'
    assert re.search(not_measured, page.text)
    assert '<svg class="chart" role="img"' in page.text


def test_static_files_are_served_locally(site: Site) -> None:
    client = site.client()
    assert client.get("/static/style.css").status_code == 200
    assert client.get("/static/app.js").status_code == 200
    page = client.get("/lookup").text
    assert "http://" not in re.sub(r'xmlns="http://www.w3.org/2000/svg"', "", page)
    assert "https://" not in page


def test_registry_browser_finds_a_commune_by_name_without_accents(site: Site) -> None:
    from hopnhat.config import province_code
    from hopnhat.db import session_scope
    from hopnhat.registry.loader import load_bundled

    with session_scope(site.engine) as session:
        load_bundled(session, [province_code()])
    client = site.client("operator")
    page = client.get("/registry", params={"q": "phuong cai khe", "on": "2025-08-01"})
    assert page.status_code == 200
    assert '<td data-label="Mã">31120</td><td data-label="Tên">Phường Cái Khế</td>' in page.text
    before = client.get("/registry", params={"q": "An Hòa", "on": "2025-06-01"})
    assert '<td data-label="Mã">31120</td><td data-label="Tên">Phường An Hòa</td>' in before.text
    listing = client.get("/registry", params={"level": "commune", "on": "2025-08-01"})
    assert listing.text.count('<tr><td data-label="Mã">') == 25  # one page; the pager says how many in all
    assert "103 dòng" in listing.text and "Trang 1/5" in listing.text
    bad = client.get("/registry", params={"on": "2025-13-45"})
    assert bad.status_code == 200 and 'role="alert"' in bad.text


def test_public_lookup_is_rate_limited_per_client(site: Site) -> None:
    site.settings.public_rate_limit_per_minute = 3
    client = site.client()
    codes = [client.get("/lookup", params={"code": f"X-{i}"}).status_code for i in range(4)]
    assert codes == [200, 200, 200, 429]
    assert "Bạn tra cứu quá nhiều lần" in client.get("/lookup", params={"code": "X-9"}).text
