"""A day at a commune center in Chromium: intake with the address converted and the checklist, the receipt's print
view, hand-off and back, supplement request and receipt, finished, result returned; the citizen's lookup checked at
each step. The same intake by keyboard alone. Another center's officer neither sees nor acts.

The app runs in a thread (uvicorn) over a temporary SQLite store; screenshots go to ``test-artifacts/``."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from hopnhat.app import create_app
from hopnhat.config import Settings
from hopnhat.db import ensure_schema, make_engine
from hopnhat.store.models import Dossier, Status
from tests.http_support import CHROMIUM, chromium, serve
from tests.web.officer_support import (
    NINH_KIEU_NAME,
    NINH_KIEU_PHONE,
    OLD_ADDRESS,
    PASSWORD,
    UNIT,
    seed_center,
)

pytestmark = pytest.mark.browser

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
APPLICANT = "Lê Thị Khai Sinh"

if not os.path.exists(CHROMIUM):
    pytest.skip(f"{CHROMIUM} is not installed (apt-get install -y chromium)", allow_module_level=True)

from playwright.sync_api import Browser, BrowserContext, Page, expect  # noqa: E402


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    engine = make_engine(f"sqlite:///{tmp_path_factory.mktemp('officer-browser') / 'store.db'}")
    ensure_schema(engine)
    seed_center(engine)
    yield engine
    engine.dispose()


@pytest.fixture(scope="module")
def server(store: Engine) -> Iterator[str]:
    settings = Settings(database_url=store.url.render_as_string(), secret_key="officer-browser-secret-0123456789")
    with serve(create_app(settings, store)) as url:
        yield url


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as launched:
        yield launched


def _context(browser: Browser) -> BrowserContext:
    # A counter's screen: officers work at desks, citizens on phones (the lookup is checked on a phone).
    return browser.new_context(viewport={"width": 1280, "height": 900}, locale="vi-VN")


def shot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"officer-{name}.png"), full_page=True)


def sign_in(page: Page, server: str, username: str) -> None:
    page.goto(f"{server}/signin")
    page.get_by_label("Tên đăng nhập").fill(username)
    page.get_by_label("Mật khẩu").fill(PASSWORD)
    page.get_by_role("button", name="Đăng nhập").click()
    expect(page.get_by_text(username, exact=True)).to_be_visible()


@pytest.fixture
def citizen(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 390, "height": 844}, locale="vi-VN")
    yield context.new_page()
    context.close()


def check_lookup(citizen: Page, url: str, status: str, *also: str, name: str = "") -> None:
    """The citizen opens the receipt's QR link: the state, the center and what else this step must show, and no
    personal data."""
    citizen.goto(url)
    result = citizen.locator("#lookup-result")
    expect(result).to_contain_text(status)
    expect(citizen.locator("#lookup-center")).to_contain_text(NINH_KIEU_NAME)
    expect(citizen.locator("#lookup-center")).to_contain_text(NINH_KIEU_PHONE)
    for text in also:
        expect(result).to_contain_text(text)
    expect(citizen.locator("body")).not_to_contain_text(APPLICANT)
    if name:
        shot(citizen, f"lookup-{name}")


def act(page: Page, action: str, **fields: str) -> None:
    """Open an action on the dossier page, fill its fields and submit it."""
    box = page.locator(f"#act-{action}")
    box.locator("summary").click()
    for field, value in fields.items():
        box.locator(f"[name={field}]").fill(value)
    box.locator(f"#do-{action}").click()


def test_a_day_at_a_commune_center(browser: Browser, server: str, citizen: Page) -> None:
    context = _context(browser)
    page = context.new_page()
    sign_in(page, server, "cb_nk")
    page.goto(f"{server}/officer/intake")
    page.get_by_label("Thủ tục", exact=False).first.fill("1.001193")
    expect(page.locator("#procedure-name")).to_have_text("Đăng ký khai sinh")
    checklist = page.locator("#checklist")
    expect(checklist).to_contain_text("Giấy chứng sinh")
    checklist.get_by_label(re.compile("TP1")).check()
    checklist.get_by_label(re.compile("TP2")).check()
    expect(page.locator("#fees")).to_contain_text("Lệ phí đăng ký khai sinh đúng hạn")
    expect(page.locator("#due-preview")).to_have_text(re.compile(r"\d\d/\d\d/\d{4} \d\d:\d\d"))
    page.locator("#applicant_name").fill(APPLICANT)
    page.locator("#applicant_id_number").fill("09219000123")  # 11 digits: warned, not refused
    expect(page.locator("#id-warning")).to_contain_text("12 chữ số")
    page.locator("#applicant_id_number").fill("092190001234")
    expect(page.locator("#id-warning")).to_have_text("")
    page.locator("#applicant_phone").fill("0909111222")
    page.locator("#applicant_email").fill("le.khai.sinh@example.vn")
    page.locator("#notice_consent").check()
    page.locator("#applicant_address").fill(OLD_ADDRESS)
    expect(page.locator("#address-new")).to_contain_text("Phường Ninh Kiều")
    shot(page, "intake")
    page.locator("#receive").click()

    # The receipt's print view: the code, the due date and the QR code that opens the public lookup.
    expect(page.locator("#intake-done")).to_be_visible()
    code = page.locator("#new-code").inner_text()
    slip = page.locator("#slip")
    expect(slip).to_contain_text("GIẤY TIẾP NHẬN HỒ SƠ VÀ HẸN TRẢ KẾT QUẢ")
    expect(slip).to_contain_text(APPLICANT)
    expect(slip.locator("svg")).to_be_visible()
    lookup_url = slip.locator(".slip-qr small").inner_text()
    assert lookup_url == f"{server}/lookup?code={code.replace('.', '.')}"
    page.emulate_media(media="print")
    expect(page.locator("header.top")).to_be_hidden()  # the sheet alone on paper
    shot(page, "receipt-print")
    page.emulate_media(media="screen")
    check_lookup(citizen, lookup_url, "Đã tiếp nhận", name="received")

    # Hand-off to a processing unit, and back from it with a note.
    page.goto(f"{server}/officer/dossiers/{code}")
    act(page, "hand_off", holder_unit=UNIT, note="Chuyển phòng chuyên môn thẩm định")
    expect(page.locator("#action-done")).to_be_visible()
    expect(page.locator("#dossier-holder")).to_have_text(UNIT)
    check_lookup(citizen, lookup_url, "Đang xử lý")
    unit_context = _context(browser)
    unit_page = unit_context.new_page()
    sign_in(unit_page, server, "xl_so")
    unit_page.goto(f"{server}/officer/dossiers/{code}")
    act(unit_page, "hand_back", note="Đã thẩm định, đủ điều kiện")
    unit_context.close()

    # A supplement request: its slip, the lookup lists the items and where to bring them; the clock stands.
    page.goto(f"{server}/officer/dossiers/{code}")
    expect(page.locator("#timeline")).to_contain_text("xl_so")
    act(page, "request_supplement", items="Bản sao giấy chứng sinh có chứng thực\nTờ khai ký đủ họ tên")
    expect(page.locator("#slip")).to_contain_text("PHIẾU YÊU CẦU BỔ SUNG, HOÀN THIỆN HỒ SƠ")
    expect(page.locator("#slip-items")).to_contain_text("Tờ khai ký đủ họ tên")
    shot(page, "supplement-slip")
    check_lookup(citizen, lookup_url, "Yêu cầu bổ sung", "Bản sao giấy chứng sinh có chứng thực", name="supplement")
    expect(citizen.locator("#lookup-where")).to_contain_text(NINH_KIEU_NAME)

    page.goto(f"{server}/officer/dossiers/{code}")
    act(page, "supplement_received")
    expect(page.locator("#due-explained")).to_contain_text("Lùi hạn do chờ bổ sung")
    check_lookup(citizen, lookup_url, "Đang xử lý")
    act(page, "finish")
    check_lookup(citizen, lookup_url, "Đã xử lý xong")
    act(page, "return_result", returned_to=APPLICANT)
    expect(page.locator("#slip")).to_contain_text("BIÊN NHẬN TRẢ KẾT QUẢ")
    check_lookup(citizen, lookup_url, "Đã trả kết quả", name="returned")
    page.goto(f"{server}/officer/dossiers/{code}")
    expect(page.locator("#actions")).to_contain_text("không còn thao tác")
    shot(page, "dossier-returned")
    context.close()


def test_the_same_intake_by_keyboard_alone(browser: Browser, server: str, store: Engine) -> None:
    context = _context(browser)
    page = context.new_page()
    sign_in(page, server, "cb_nk2")
    page.goto(f"{server}/officer/intake")
    keys = page.keyboard
    expect(page.locator("#procedure")).to_be_focused()
    keys.type("1.001193")
    expect(page.locator("#checklist")).to_contain_text("Giấy chứng sinh")
    keys.press("Tab")  # channel: in person, as chosen
    expect(page.locator("#channel")).to_be_focused()
    keys.press("Tab")
    keys.press("Space")  # TP1
    keys.press("Tab")
    keys.press("Space")  # TP2
    keys.press("Tab")  # TP3 (if any): not handed in
    keys.press("Tab")
    expect(page.locator("#applicant_name")).to_be_focused()
    keys.type("Võ Văn Bàn Phím")
    keys.press("Tab")  # identity paper: citizen ID, the first
    keys.press("Tab")
    keys.type("092190009999")
    keys.press("Tab")
    keys.type("0909333444")
    keys.press("Tab")
    keys.press("Tab")
    keys.press("Space")  # consent to notices
    keys.press("Tab")
    expect(page.locator("#applicant_address")).to_be_focused()
    keys.type(OLD_ADDRESS)
    expect(page.locator("#address-new")).to_contain_text("Phường Ninh Kiều")
    shot(page, "intake-keyboard")
    keys.press("Control+Enter")
    expect(page.locator("#intake-done")).to_be_visible()
    code = page.locator("#new-code").inner_text()
    with Session(store) as s:
        d = s.scalars(select(Dossier).where(Dossier.code == code)).one()
        assert (d.applicant_name, d.unit_code, d.notice_consent, d.status) == (
            "Võ Văn Bàn Phím",
            "31135",
            True,
            Status.RECEIVED,
        )
        assert [doc["code"] for doc in (d.extra or {})["documents"]] == ["TP1", "TP2"]
    context.close()


def test_another_centers_officer_neither_sees_nor_acts(browser: Browser, server: str, store: Engine) -> None:
    code = "001.02.60.H13-251201-0999"
    with Session(store) as s:  # a dossier of Ninh Kiều of its own: tests may run apart (xdist) from the day's
        s.add(
            Dossier(
                code=code,
                province_code="92",
                procedure_code="1.001193",
                applicant_name=APPLICANT,
                status=int(Status.IN_PROCESS),
                received_at=datetime.now(UTC) - timedelta(days=1),
                due_at=datetime.now(UTC) + timedelta(days=1),
                center_code="001.02.60.H13",
                received_center_code="001.02.60.H13",
            )
        )
        s.commit()
    context = _context(browser)
    page = context.new_page()
    sign_in(page, server, "cb_ck")
    response = page.goto(f"{server}/officer/dossiers/{code}")
    assert response is not None and response.status == 404
    expect(page.locator("body")).not_to_contain_text(APPLICANT)
    page.goto(f"{server}/officer?queue=all")
    expect(page.locator("main")).not_to_contain_text(code)
    csrf = page.locator("input[name=csrf]").first.get_attribute("value")
    refused = page.request.post(f"{server}/officer/dossiers/{code}/act", form={"csrf": csrf or "", "action": "stop"})
    assert refused.status == 404
    shot(page, "other-center")
    context.close()
    with Session(store) as s:
        assert s.scalars(select(Dossier.status).where(Dossier.code == code)).one() != Status.STOPPED
