"""Every page in Vietnamese, as each role: no English from a message table, no untranslated code, no axe-core
violation; the officer's and the citizen's pages fit a 390 px phone with no sideways scroll.

One server, one browser, one small store holding a little of everything a page shows (a quarantined record, a
system never probed, a sync run, a cut-over verdict, centers not ready). The walk follows each role's own menu, so a
page added to the menu is walked without editing this test.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine

from hopnhat.app import create_app
from hopnhat.config import Settings
from hopnhat.continuity import service as continuity
from hopnhat.continuity.schemas import SystemIn
from hopnhat.db import ensure_schema, make_engine, session_scope
from hopnhat.i18n import REASONS, TEXTS
from hopnhat.identity.roles import Role
from hopnhat.identity.service import add_user
from hopnhat.sync.models import CutoverVerdict, QuarantinedRecord, SyncRun, SyncRunSource
from tests.http_support import CHROMIUM, chromium, serve
from tests.web.conftest import CENTER_A, PASSWORD, seed

pytestmark = pytest.mark.browser

AXE = Path(__file__).resolve().parents[1] / "a11y" / "node_modules" / "axe-core" / "axe.min.js"

if not os.path.exists(CHROMIUM):
    pytest.skip(f"{CHROMIUM} is not installed (apt-get install -y chromium)", allow_module_level=True)
if not AXE.exists():
    pytest.skip("axe-core is not installed (npm ci --prefix tests/a11y)", allow_module_level=True)

from playwright.sync_api import Browser, Page  # noqa: E402

# Usernames without "_" so the signed-in name never reads as an untranslated code.
ROLES = {
    "quantri": "administrator",
    "vanhanh": "department_operator",
    "quanly": "data_steward",
    "lanhdao": "center_leader",
    "canbo": "center_officer",
    "xuly": "processing_officer",
    "kiemtoan": "auditor",
}
PHONE_ROLES = frozenset({"center_leader", "center_officer", "processing_officer"})
"""Roles that work from a phone: their pages must fit 390 px."""

DOSSIER = "H92.31-250801-0001"
EXTRA_PAGES = (
    "/sync/quarantine",
    "/sync/sources",
    f"/officer/dossiers/{DOSSIER}",
    "/dossiers?overdue=1",
    "/registry?q=Ninh",
    "/convert?address=Ph%C6%B0%E1%BB%9Dng+C%C3%A1i+Kh%E1%BA%BF%2C+Qu%E1%BA%ADn+Ninh+Ki%E1%BB%81u",
    "/convert?address=12+%C4%90%C6%B0%E1%BB%9Dng+30%2F4%2C+Ph%E1%BB%A5ng+Hi%E1%BB%87p",  # not found, and why
)
"""Pages the menu does not link directly; each is walked by the roles that may open it (others get a 403 page)."""

PUBLIC_PAGES = ("/lookup", f"/lookup?code={DOSSIER}", "/signin")


def _english_phrases() -> list[re.Pattern[str]]:
    """The English side of the message tables, as whole words, where it differs from the Vietnamese."""
    vietnamese = " ".join(vi for vi, _ in TEXTS.values())
    phrases = set()
    for vi, en in TEXTS.values():
        # A one-word label shorter than 5 letters ("Up", "Day") is too likely to be part of a name or a code.
        if en == vi or en in vietnamese or (" " not in en and len(en) < 5) or not re.search("[A-Za-z]{3}", en):
            continue
        phrases.add(en)
    patterns = [re.compile(rf"(?<![\w-]){re.escape(p)}(?![\w-])") for p in sorted(phrases)]
    patterns += [re.compile(pattern.replace("(.+)", "(.+?)")) for pattern, _ in REASONS]
    return patterns


ENGLISH = _english_phrases()
CODE = re.compile(r"(?<![\w./-])[a-z]+(?:_[a-z0-9]+)+(?![\w./-])")
"""A snake_case token: a key or an enumeration value shown as it is."""
ENGLISH_WORDS = re.compile(
    r"(?<!\w)(?:the|of|and|not|never|yet|from|invalid|missing|wrong|received|heartbeat|transitioning|exact"
    r"|ambiguous|commune|province|agency code)(?!\w)"
)
"""Words of the services' English texts that no Vietnamese page says."""


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    engine = make_engine(f"sqlite:///{tmp_path_factory.mktemp('walk') / 'store.db'}")
    ensure_schema(engine)
    seed(engine)
    now = datetime.now(UTC)
    with session_scope(engine) as s:
        for username, role in ROLES.items():
            if role == "processing_officer":
                add_user(s, username, PASSWORD, role, units=["000.31.20.H92"])
            else:
                add_user(s, username, PASSWORD, role, centers=[CENTER_A] if role in PHONE_ROLES else [])
        continuity.create_system(s, SystemIn(code="mc-haugiang", name="Một cửa điện tử Hậu Giang"))
        run = SyncRun(started_at=now - timedelta(hours=1), finished_at=now, state="done")
        s.add(run)
        s.flush()
        s.add(SyncRunSource(run_id=run.id, source="haugiang", state="done", extracted=3, inserted=2, quarantined=1))
        s.add(
            QuarantinedRecord(
                source="haugiang",
                source_id="HG-0001",
                run_id=run.id,
                payload={"ma": "HG-0001"},
                reasons=["invalid date in due_at", "missing procedure code"],
            )
        )
        s.add(CutoverVerdict(source="haugiang", ready=False, reasons=["1 quarantined records not resolved"]))
    yield engine
    engine.dispose()


@pytest.fixture(scope="module")
def server(store: Engine) -> Iterator[str]:
    settings = Settings(database_url=store.url.render_as_string(), secret_key="walk-test-secret-0123456789")
    with serve(create_app(settings, store)) as url:
        yield url


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as launched:
        yield launched


Checked = set[tuple[str, bool]]
"""Pages axe-core already checked, by address and width."""


def _problems(page: Page, phone: bool, checked: Checked) -> list[str]:
    text = page.inner_text("main") + " " + page.title()
    problems = [f"English {m.group(0)!r}" for p in ENGLISH if (m := p.search(text))]
    problems += [f"English word {m!r}" for m in sorted(set(ENGLISH_WORDS.findall(text)))]
    problems += [f"code {m!r}" for m in sorted(set(CODE.findall(text)))]
    # axe-core once per page and width: another role sees the same markup but for its menu (a second of the walk's
    # time per page on this machine).
    key = (page.url, phone)
    if key not in checked:
        checked.add(key)
        page.add_script_tag(path=str(AXE))
        result = page.evaluate(
            "async () => (await axe.run(document, {runOnly: ['wcag2a', 'wcag2aa', 'wcag21aa', 'best-practice']}))"
            ".violations.map(v => v.id + ' ' + v.nodes.slice(0, 3).map(n => n.target.join(' ')).join(', '))"
        )
        problems += [f"axe {v}" for v in result]
    if phone:
        width = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
        if width > 0:
            problems.append(f"scrolls sideways by {width} px at 390 px")
    return problems


def _walk(page: Page, server: str, paths: list[str], phone: bool, checked: Checked) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for path in paths:
        response = page.goto(f"{server}{path}")
        assert response is not None
        if response.status == 403 or (response.status == 404 and path.startswith("/officer/dossiers/")):
            continue  # not this role's page, or a dossier outside its scope
        assert response.status == 200, (path, response.status)
        problems = _problems(page, phone, checked)
        if not phone and path == "/":
            # The overview is what an administrator scans: at 1366 × 900 it holds at most two screens.
            height = page.evaluate("document.documentElement.scrollHeight")
            if height > 2 * 900:
                problems.append(f"the overview is {height} px tall at 1366 × 900 (more than two screens)")
        if problems:
            found[path] = problems
    return found


def test_every_page_in_vietnamese_and_accessible(browser: Browser, server: str) -> None:
    assert set(ROLES.values()) == {str(r) for r in Role}, "a role of identity/roles.py is not walked"
    found: dict[str, dict[str, list[str]]] = {}
    checked: Checked = set()
    context = browser.new_context(viewport={"width": 390, "height": 844}, locale="vi-VN", bypass_csp=True)
    try:
        page = context.new_page()
        if problems := _walk(page, server, list(PUBLIC_PAGES), True, checked):
            found["public"] = problems
    finally:
        context.close()
    for username, role in ROLES.items():
        phone = role in PHONE_ROLES
        viewport = {"width": 390, "height": 844} if phone else {"width": 1366, "height": 900}
        # bypass_csp: axe-core is injected as an inline script, which the pages' policy rightly refuses.
        context = browser.new_context(viewport=viewport, locale="vi-VN", bypass_csp=True)
        try:
            page = context.new_page()
            page.goto(f"{server}/signin")
            page.get_by_label("Tên đăng nhập").fill(username)
            page.get_by_label("Mật khẩu").fill(PASSWORD)
            page.get_by_role("button", name="Đăng nhập").click()
            page.wait_for_load_state()
            menu = page.eval_on_selector_all("header nav a", "links => links.map(a => a.getAttribute('href'))")
            assert menu, f"{username} sees no menu"
            paths = list(dict.fromkeys([*menu, *EXTRA_PAGES]))
            if problems := _walk(page, server, paths, phone, checked):
                found[role] = problems
        finally:
            context.close()
    report = "\n".join(f"{who} {path}: {p}" for who, pages in found.items() for path, ps in pages.items() for p in ps)
    assert not found, report
