"""The portal pages in a real browser: an administrator mends and skips dead letters (audited, CSRF-checked forms),
and reads the Decision 766 report with its chart, unconfirmed figures marked, and its CSV."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from hopnhat.app import create_app
from hopnhat.config import Settings
from hopnhat.db import ensure_schema, make_engine, session_scope
from hopnhat.identity.models import AuditEntry
from hopnhat.identity.roles import Role
from hopnhat.store.models import OutboxEvent
from tests.http_support import CHROMIUM, chromium, serve
from tests.identity_support import PASSWORD, add_account
from tests.portal.factories import make_dossier

pytestmark = pytest.mark.browser
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"

if not os.path.exists(CHROMIUM):
    pytest.skip(f"{CHROMIUM} is not installed (apt-get install -y chromium)", allow_module_level=True)

from playwright.sync_api import Browser, Page, expect  # noqa: E402

BAD = "H13–260210–0001"  # en dashes: the portal cannot take this code


@pytest.fixture
def site(tmp_path: Path) -> Iterator[tuple[str, Engine]]:
    engine = make_engine(f"sqlite:///{tmp_path / 'store.db'}")
    ensure_schema(engine)
    now = datetime.now(UTC)
    with session_scope(engine) as session:
        add_account(session, Role.ADMINISTRATOR, username="quantri")
        make_dossier(session, BAD, received_at=now - timedelta(days=2), due_at=now + timedelta(days=1))
        # finished on its due date: on time
        make_dossier(session, "H13-260210-0002", received_at=now - timedelta(days=3), due_at=now - timedelta(days=1),
                     finished_at=now - timedelta(days=1), status=10)  # fmt: skip
        for event in session.scalars(select(OutboxEvent)):
            event.state, event.attempts = "dead", 1
            event.last_error = "MaHoSo cannot be sent" if event.dossier_code == BAD else "portal: error_code -1: lỗi"
    settings = Settings(database_url=engine.url.render_as_string(), secret_key="portal-pages-secret-0123456789")
    with serve(create_app(settings, engine)) as url:
        yield url, engine
    engine.dispose()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as launched:  # one launch for the module; each test has a context of its own
        yield launched


@pytest.fixture
def page(browser: Browser, request: pytest.FixtureRequest) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1200, "height": 900}, locale="vi-VN")
    pg = context.new_page()
    try:
        yield pg
    finally:
        ARTIFACTS.mkdir(exist_ok=True)
        pg.screenshot(path=str(ARTIFACTS / f"{request.node.name}.png"), full_page=True)
        context.close()


def sign_in(page: Page, url: str, target: str) -> None:
    page.goto(f"{url}/signin")
    page.get_by_label("Tên đăng nhập").fill("quantri")
    page.get_by_label("Mật khẩu").fill(PASSWORD)
    page.get_by_role("button", name="Đăng nhập").click()
    page.wait_for_load_state()
    page.goto(f"{url}{target}")


def test_an_administrator_mends_and_skips_dead_letters(site: tuple[str, Engine], page: Page) -> None:
    url, engine = site
    sign_in(page, url, "/portal")
    table = page.locator("#dead-letters")
    expect(table).to_contain_text("MaHoSo cannot be sent")
    with Session(engine) as session:
        bad_id, other_id = session.scalars(select(OutboxEvent.id).order_by(OutboxEvent.id)).all()

    row = page.locator(f"#dead-{bad_id}")
    row.locator("select[name=field]").select_option("MaHoSo")
    row.locator("input[name=value]").fill("H13-260210-0001")
    page.locator(f"#mreason-{bad_id}").fill("Sửa dấu gạch ngang")
    row.get_by_role("button", name="Sửa và gửi lại").click()
    expect(page.locator(".notice.ok")).to_contain_text(f"Đã sửa #{bad_id}")

    page.locator(f"#sreason-{other_id}").fill("Hồ sơ thử")
    page.locator(f"#dead-{other_id}").get_by_role("button", name="Bỏ qua").click()
    expect(page.locator(".notice.ok")).to_contain_text(f"Đã bỏ qua #{other_id}")
    expect(page.locator("#dead-letters")).to_have_count(0)

    with Session(engine) as session:
        states = dict(session.execute(select(OutboxEvent.id, OutboxEvent.state)).all())
        actions = session.scalars(select(AuditEntry.action).where(AuditEntry.action.like("portal.%"))).all()
    assert states == {bad_id: "pending", other_id: "skipped"}
    assert sorted(actions) == ["portal.mend", "portal.skip"]


def test_the_766_report_shows_the_chart_and_marks_what_is_unconfirmed(site: tuple[str, Engine], page: Page) -> None:
    url, _ = site
    today = datetime.now(UTC).date()
    sign_in(page, url, f"/reports/766?start={today - timedelta(days=10)}&end={today + timedelta(days=1)}")
    expect(page.locator("h1")).to_have_text("Chỉ số Quyết định 766")
    expect(page.locator("svg.chart")).to_be_visible()
    expect(page.locator("#national")).to_contain_text("không truy cập được")
    expect(page.locator("#r766 abbr.unconfirmed")).to_have_count(2)  # on time and synced share
    city = page.locator("#r766 tr.total")
    expect(city).to_contain_text("Toàn thành phố")
    expect(city.locator("td").nth(3)).to_contain_text("100.0 %")  # the finished one: on its due date or before
    with page.expect_download() as download:
        page.get_by_role("link", name="CSV").click()
    body = Path(download.value.path()).read_text(encoding="utf-8-sig")
    assert body.splitlines()[0].startswith("center,received,finished")
    assert body.splitlines()[-1].startswith("*,2,1,0,1,1,100.0")
