"""The working calendar's page in a real browser: an administrator records a Saturday worked, sees the dossiers
whose due date it would move, moves one and keeps the rest. Screenshots go to ``test-artifacts/``."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from hopnhat.app import create_app
from hopnhat.config import VN_TZ, Settings
from hopnhat.db import ensure_schema, make_engine
from hopnhat.store.models import Dossier
from tests.http_support import CHROMIUM, chromium, serve
from tests.web.conftest import CENTER_A, CENTER_B, PASSWORD, dossier, seed

pytestmark = pytest.mark.browser

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"

if not os.path.exists(CHROMIUM):
    pytest.skip(f"{CHROMIUM} is not installed (apt-get install -y chromium)", allow_module_level=True)

from playwright.sync_api import Page, expect  # noqa: E402


def vn(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=VN_TZ)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Engine]:
    engine = make_engine(f"sqlite:///{tmp_path / 'store.db'}")
    ensure_schema(engine)
    seed(engine)
    with Session(engine) as s:
        # Received Monday 11/3/2030 09:00 with 5 working days: due Monday 18/3 09:00, or Saturday 16/3 09:00 once
        # that Saturday is worked.
        for code, center in (("CAL-A-1", CENTER_A), ("CAL-B-1", CENTER_B)):
            d = dossier(code, center)
            d.received_at, d.due_at = vn("2030-03-11 09:00"), vn("2030-03-18 09:00")
            s.add(d)
        s.commit()
    yield engine
    engine.dispose()


@pytest.fixture
def page(store: Engine) -> Iterator[Page]:
    settings = Settings(database_url=store.url.render_as_string(), secret_key="browser-test-secret-0123456789")
    with serve(create_app(settings, store)) as url, chromium() as browser:
        context = browser.new_context(viewport={"width": 390, "height": 844}, locale="vi-VN", base_url=url)
        pg = context.new_page()
        try:
            yield pg
        finally:
            ARTIFACTS.mkdir(exist_ok=True)
            pg.screenshot(path=str(ARTIFACTS / "calendar_saturday_worked.png"), full_page=True)
            context.close()


def _due(store: Engine, code: str) -> datetime | None:
    with Session(store) as s:
        return s.query(Dossier).filter_by(code=code).one().due_at


def test_an_administrator_adds_a_saturday_worked_and_decides_the_listed_dossiers(page: Page, store: Engine) -> None:
    page.goto("/signin?next=/calendar")
    page.get_by_label("Tên đăng nhập").fill("admin")
    page.get_by_label("Mật khẩu").fill(PASSWORD)
    page.get_by_role("button", name="Đăng nhập").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Lịch làm việc")
    expect(page.locator("#day-2026-11-24")).to_contain_text("Chưa xác nhận")

    form = page.locator("#calendar-add")
    form.get_by_label("Ngày", exact=True).fill("2030-03-16")
    form.get_by_label("Loại ngày").select_option(label="Ngày làm việc (làm bù)")
    form.get_by_label("Căn cứ pháp lý").fill("Thông báo thử về ngày làm bù 16/3/2030")
    form.get_by_role("button", name="Lưu").click()

    expect(page.get_by_role("status").first).to_contain_text("2 hồ sơ đang mở")
    expect(page.locator("#day-2030-03-16")).to_contain_text("Bảng của đơn vị vận hành")
    reviews = page.locator("#due-reviews")
    expect(reviews).to_contain_text("CAL-A-1")
    expect(reviews).to_contain_text("CAL-B-1")
    expect(reviews).to_contain_text("16/03/2030 09:00")
    assert _due(store, "CAL-A-1") == vn("2030-03-18 09:00")  # listed, not moved

    page.get_by_role("button", name="Chuyển sang hạn mới CAL-A-1").click()
    expect(page.get_by_role("status").first).to_contain_text("Số hồ sơ đã quyết định: 1")
    expect(page.locator("#due-reviews")).not_to_contain_text("CAL-A-1")
    page.get_by_role("button", name="Giữ tất cả hạn đã cấp").click()
    expect(page.locator("main")).to_contain_text("Không có hạn xử lý nào chờ quyết định.")

    assert _due(store, "CAL-A-1") == vn("2030-03-16 09:00")
    assert _due(store, "CAL-B-1") == vn("2030-03-18 09:00")
