"""Main flows in a real browser: Playwright driving Debian's Chromium against the app served by uvicorn.

The app runs in a thread on a free port over a temporary SQLite store. Screenshots go to ``test-artifacts/``.
"""

from __future__ import annotations

import csv
import io
import os
import threading
import unicodedata
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import pytest
from sqlalchemy import Engine

from hopnhat.app import create_app
from hopnhat.config import Settings
from hopnhat.db import ensure_schema, make_engine
from tests.continuity.servers import LOOPBACK
from tests.http_support import CHROMIUM, chromium, serve
from tests.web.conftest import CENTER_B, PASSWORD, SECRET_NAME, seed

pytestmark = pytest.mark.browser

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"

if not os.path.exists(CHROMIUM):
    pytest.skip(f"{CHROMIUM} is not installed (apt-get install -y chromium)", allow_module_level=True)

from playwright.sync_api import Browser, Page, expect  # noqa: E402


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    engine = make_engine(f"sqlite:///{tmp_path_factory.mktemp('browser') / 'store.db'}")
    ensure_schema(engine)
    seed(engine)
    yield engine
    engine.dispose()


@pytest.fixture(scope="module")
def legacy_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the replay test generates its small legacy systems; the server's HOPNHAT_SYNC_CONFIG points here."""
    return tmp_path_factory.mktemp("legacy")


@pytest.fixture(scope="module")
def server(store: Engine, legacy_dir: Path) -> Iterator[str]:
    settings = Settings(
        database_url=store.url.render_as_string(),
        secret_key="browser-test-secret-0123456789",
        sync_config=str(legacy_dir / "sources.toml"),
    )
    with serve(create_app(settings, store)) as url:
        yield url


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as launched:
        yield launched


@pytest.fixture
def page(browser: Browser, request: pytest.FixtureRequest) -> Iterator[Page]:
    # A phone-sized viewport: the pages must work on the phones officers and citizens carry.
    context = browser.new_context(viewport={"width": 390, "height": 844}, locale="vi-VN")
    pg = context.new_page()
    try:
        yield pg
    finally:
        ARTIFACTS.mkdir(exist_ok=True)
        pg.screenshot(path=str(ARTIFACTS / f"{request.node.name}.png"), full_page=True)
        context.close()


def sign_in(page: Page, server: str, username: str) -> None:
    page.goto(f"{server}/signin")
    page.get_by_label("Tên đăng nhập").fill(username)
    page.get_by_label("Mật khẩu").fill(PASSWORD)
    page.get_by_role("button", name="Đăng nhập").click()


def test_citizen_looks_up_a_dossier(page: Page, server: str) -> None:
    page.goto(f"{server}/lookup")
    page.get_by_label("Mã hồ sơ").fill("H92.31-250801-0001")
    page.keyboard.press("Enter")
    result = page.locator("#lookup-result")
    expect(result).to_contain_text("Đang xử lý")
    expect(result).to_contain_text("Đăng ký khai sinh")
    expect(page.locator("body")).not_to_contain_text(SECRET_NAME)


def test_operator_converts_an_old_address(page: Page, server: str) -> None:
    sign_in(page, server, "operator")
    page.goto(f"{server}/convert")
    page.get_by_label("Địa chỉ cũ").fill("12 Nguyễn Trãi, Phường An Hòa, Quận Ninh Kiều, Thành phố Cần Thơ")
    page.get_by_role("button", name="Chuyển đổi").click()
    expect(page.locator("#new-address")).to_have_text("12 Nguyễn Trãi, Phường Cái Khế, Thành phố Cần Thơ")


def test_officer_cannot_see_another_centers_dossiers(page: Page, server: str) -> None:
    sign_in(page, server, "officer_a")
    expect(page).to_have_url(f"{server}/dossiers")
    table = page.locator("#dossiers")
    expect(table).to_contain_text("H92.31-250801-0001")
    expect(table).not_to_contain_text("H92.32-250801-0001")
    expect(page.locator("tr.overdue")).to_contain_text("Quá hạn")
    response = page.goto(f"{server}/dossiers?center={CENTER_B}")
    assert response is not None and response.status == 403
    expect(page.locator("body")).not_to_contain_text("H92.32-250801-0001")


def test_english_switch(page: Page, server: str) -> None:
    page.goto(f"{server}/lookup")
    page.get_by_role("link", name="English").click()
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.get_by_role("heading", level=1)).to_have_text("Dossier lookup")


class Target:
    """A real HTTP server on 127.0.0.1 that a health probe can reach, started and stopped by the test."""

    def __init__(self) -> None:
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        class Ok(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(200)
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Ok)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/health"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


def test_system_turns_red_when_its_probe_target_stops(page: Page, server: str, store: Engine) -> None:
    from sqlalchemy import select

    from hopnhat.continuity import service
    from hopnhat.continuity.models import Probe
    from hopnhat.continuity.schemas import ProbeIn, SystemIn
    from hopnhat.db import session_scope

    target = Target()
    with session_scope(store) as s:
        service.create_system(s, SystemIn(code="LGSP-HG", name="Nền tảng LGSP Hậu Giang", criticality="critical"))
        # The target listens on loopback, which probes may reach only when allowed to.
        probe = ProbeIn(name="health", kind="http", target=target.url, fail_threshold=1)
        service.add_probe(s, "LGSP-HG", probe, allow=LOOPBACK)
        service.run_probe(s, s.scalars(select(Probe)).one(), allow=LOOPBACK)
    sign_in(page, server, "operator")
    page.goto(f"{server}/systems")
    status = page.locator('td[data-col="state"]').first
    expect(status).to_have_text("✔ Hoạt động")
    expect(status).to_have_class("tone-good")
    target.stop()
    with session_scope(store) as s:
        # What `hopnhat monitor` does on its schedule.
        service.run_probe(s, s.scalars(select(Probe)).one(), allow=LOOPBACK)
    page.reload()
    expect(status).to_have_text("✖ Ngừng")
    expect(status).to_have_class("tone-bad")
    expect(status).to_have_css("color", "rgb(164, 22, 26)")


def _correct_procedure_code(folder: Path, dossier_code: str) -> None:
    """Fill the empty procedure code of one row of Hậu Giang's CSV exports, as the province would correct it at
    the source. Only that line's bytes change: the exports mix line endings, NFD text and rows in other encodings
    on purpose, and the rest must stay exactly as generated."""
    nfc = partial(unicodedata.normalize, "NFC")
    known = ""
    for file in sorted(folder.glob("hoso_*.csv")):
        lines = file.read_bytes().split(b"\n")
        header = [nfc(h) for h in next(csv.reader([lines[0].decode("utf-8-sig").rstrip("\r")]))]
        code_col, procedure_col = header.index("Mã hồ sơ"), header.index("Mã thủ tục")
        for number, line in enumerate(lines[1:], start=1):
            try:
                fields = next(csv.reader([line.decode("utf-8").rstrip("\r")]), [])
            except UnicodeDecodeError:
                continue
            if len(fields) <= procedure_col:
                continue
            known = known or fields[procedure_col]
            if fields[code_col] != dossier_code:
                continue
            assert known, "no procedure code seen before the row to correct"
            fields[procedure_col] = known
            buffer = io.StringIO()
            csv.writer(buffer, lineterminator="\r" if line.endswith(b"\r") else "").writerow(fields)
            lines[number] = buffer.getvalue().encode("utf-8")
            file.write_bytes(b"\n".join(lines))
            return
    raise AssertionError(f"{dossier_code} is in none of the exports")


def test_steward_replays_a_quarantined_record(page: Page, server: str, store: Engine, legacy_dir: Path) -> None:
    """Replay through the real sync, by the data steward (the quarantine holds personal data, so the department
    operator is refused): a small generated Hậu Giang export is synced, a record missing its procedure code is
    quarantined; replaying it unchanged keeps it there (with the reason), and after the source row is corrected the
    replay loads it and it leaves the quarantine."""
    from sqlalchemy import select

    from hopnhat.config import province_code
    from hopnhat.db import session_scope
    from hopnhat.legacy import generate
    from hopnhat.registry.loader import load_bundled
    from hopnhat.store.models import Dossier
    from hopnhat.sync import service
    from hopnhat.sync.models import QuarantinedRecord

    generate(legacy_dir, dossiers=60, seed=7, fault_rate=0.3, sql="sqlite", xlsx=False)
    with session_scope(store) as s:
        load_bundled(s, [province_code()])  # the sync remaps units through the registry
    config = service.pick(service.load_config(legacy_dir / "sources.toml"), "haugiang")
    assert service.run(store, config)[1]["haugiang"]["quarantined"] > 0
    with session_scope(store) as s:
        record = next(
            q
            for q in s.scalars(select(QuarantinedRecord).where(QuarantinedRecord.state == "open"))
            if q.reasons == ["missing procedure code"]
        )
        record_id, dossier_code = record.id, record.source_id
        assert s.scalar(select(Dossier.id).where(Dossier.code == dossier_code)) is None

    page.on("dialog", lambda dialog: dialog.accept())
    sign_in(page, server, "operator")
    expect(page).to_have_url(f"{server}/")
    refused = page.goto(f"{server}/sync/quarantine")
    assert refused is not None and refused.status == 403
    expect(page.locator("body")).not_to_contain_text(dossier_code)
    page.context.clear_cookies()
    sign_in(page, server, "steward")
    page.goto(f"{server}/sync/quarantine")
    table = page.locator("table")
    expect(table).to_contain_text(dossier_code)
    page.get_by_role("button", name=f"Xử lý lại #{record_id}").click()
    expect(page.get_by_role("alert")).to_contain_text("bản ghi vẫn bị cách ly")
    expect(table).to_contain_text("thiếu mã thủ tục")  # the reason, in the page's language
    expect(table).to_contain_text(dossier_code)

    _correct_procedure_code(legacy_dir / "haugiang", dossier_code)
    page.get_by_role("button", name=f"Xử lý lại #{record_id}").click()
    expect(page.get_by_role("status")).to_contain_text("Đã xử lý lại bản ghi.")
    expect(page.locator("body")).not_to_contain_text(dossier_code)
    with session_scope(store) as s:
        assert s.get(QuarantinedRecord, record_id).state == "resolved"  # type: ignore[union-attr]
        assert s.scalar(select(Dossier.id).where(Dossier.code == dossier_code)) is not None


def test_keyboard_user_skips_to_content_and_signs_in(page: Page, server: str) -> None:
    page.goto(f"{server}/lookup")
    page.keyboard.press("Tab")
    expect(page.locator(".skip")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator("#main")).to_be_focused()
    page.goto(f"{server}/signin")
    expect(page.get_by_label("Tên đăng nhập")).to_be_focused()  # autofocus: type straight away
    page.keyboard.type("admin")
    page.keyboard.press("Tab")
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    expect(page).to_have_url(f"{server}/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Tổng quan")
    expect(page.locator("svg.chart").first).to_be_visible()
