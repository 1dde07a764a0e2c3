"""The demo's three sources go from NOT READY to READY by the data stewards' actions alone: by CLI, and in a real
browser (two stewards, the second approving the first's dismissals). Every action is audited with its principal;
the cut-over is then committed by CLI. One demo run (250 dossiers, seed 22: faults in every source) is shared."""

from __future__ import annotations

import json
import os
import shutil
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session
from typer.testing import CliRunner, Result

from hopnhat.app import create_app
from hopnhat.cli import app
from hopnhat.config import Settings
from hopnhat.db import make_engine, session_scope
from hopnhat.identity import service as identity
from hopnhat.identity.models import AuditEntry
from hopnhat.legacy import cleanup
from hopnhat.legacy.server import serve_in_thread
from hopnhat.sync.models import Cutover, QuarantinedRecord
from tests.http_support import CHROMIUM, chromium, serve

SOURCES = ("cantho", "haugiang", "soctrang")
PASSWORD = "Hai-nguoi-quan-ly-du-lieu-2026"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


@dataclass
class Demo:
    store: Path
    out: Path
    port: int


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    root = tmp_path_factory.mktemp("steward-demo")
    out = root / "legacy"
    store = root / "template.db"
    args = ["--db", f"sqlite:///{store}", "demo", "--no-serve", "--dossiers", "250", "--seed", "22", "--out", str(out)]
    try:
        result = CliRunner().invoke(app, args, env={"HOPNHAT_LANG": "en"})  # the checks below read English
        assert result.exit_code == 0, result.output
        for source in SOURCES:
            assert f"{source}: NOT READY" in result.output, result.output
        base = tomllib.loads((out / "sources.toml").read_text())["sources"]["cantho"]["base_url"]
        yield Demo(store, out, int(base.rsplit(":", 1)[1]))
    finally:
        cleanup(out)


@dataclass
class Store:
    url: str
    config: Path
    demo: Demo

    def cli(self, *args: str, account: str = "steward1") -> Result:
        env = {"HOPNHAT_DATABASE_URL": self.url, "HOPNHAT_CLI_ACCOUNT": account, "HOPNHAT_LANG": "en"}
        result = CliRunner().invoke(app, list(args), env=env)
        assert result.exit_code == 0, f"{args}: {result.output}"
        return result

    def open_records(self) -> list[QuarantinedRecord]:
        engine = make_engine(self.url)
        try:
            with Session(engine) as s:
                return list(s.scalars(select(QuarantinedRecord).where(QuarantinedRecord.state == "open")))
        finally:
            engine.dispose()

    def audit(self) -> list[tuple[str | None, str]]:
        engine = make_engine(self.url)
        try:
            with Session(engine) as s:
                return [(e.actor, e.action) for e in s.scalars(select(AuditEntry).order_by(AuditEntry.id))]
        finally:
            engine.dispose()


@pytest.fixture
def copy(demo: Demo, tmp_path: Path) -> Store:
    """The demo's store, copied for one test, with two data stewards."""
    path = tmp_path / "store.db"
    shutil.copy(demo.store, path)
    url = f"sqlite:///{path}"
    engine = make_engine(url)
    with session_scope(engine) as s:
        for name in ("steward1", "steward2"):
            identity.add_user(s, name, PASSWORD, "data_steward")
    engine.dispose()
    return Store(url, demo.out / "sources.toml", demo)


def _policy(reasons: list[str]) -> str:
    """What the stewards do with a record of the demo: a due date the source wrote wrong gets its receipt date (a
    rule in bulk); a record without a procedure code gets it; any other is dismissed."""
    text = "; ".join(reasons)
    if "invalid date in due_at" in text:
        return "bulk"
    if "missing procedure code" in text:
        return "correct"
    return "dismiss"


def test_the_demo_reaches_ready_by_the_stewards_cli_alone(copy: Store) -> None:
    config = str(copy.config)
    records = copy.open_records()
    assert {q.source for q in records} == set(SOURCES)
    plan = {q.id: _policy(q.reasons) for q in records}
    if "bulk" in plan.values():
        rule = ["--reason-contains", "invalid date in due_at", "--field", "due_at", "--copy-from", "received_at"]
        shown = json.loads(copy.cli("steward", "bulk", "preview", "-c", config, *rule, "--json").output)
        assert {o["record_id"] for o in shown} == {i for i, p in plan.items() if p == "bulk"}
        assert all(o["loads"] for o in shown)
        copy.cli("steward", "bulk", "apply", "-c", config, *rule)
    for record_id in (i for i, p in plan.items() if p == "correct"):
        copy.cli("steward", "correct", str(record_id), "-c", config, "--set", "procedure_code=1.001193")
    dismissed = [i for i, p in plan.items() if p == "dismiss"]
    for record_id in dismissed:
        copy.cli("steward", "dismiss", str(record_id), "--reason", "withdrawn")
    proposals = json.loads(copy.cli("steward", "proposals", "--json").output)
    ids = [str(p["id"]) for p in proposals]
    assert len(ids) == len(dismissed)
    refused = CliRunner().invoke(
        app,
        ["steward", "approve", *ids],
        env={"HOPNHAT_DATABASE_URL": copy.url, "HOPNHAT_CLI_ACCOUNT": "steward1"},
    )
    assert refused.exit_code != 0 and "second person" in refused.output
    copy.cli("steward", "approve", *ids, account="steward2")
    assert copy.open_records() == []

    with serve_in_thread(copy.demo.out):
        checked = copy.cli("cutover", "check", "-c", config, account="admin")
        for source in SOURCES:
            assert f"{source}: READY" in checked.output, checked.output
        copy.cli("cutover", "commit", "cantho", "-c", config, account="admin")
        again = CliRunner().invoke(
            app, ["sync", "run", "-c", config], env={"HOPNHAT_DATABASE_URL": copy.url, "HOPNHAT_CLI_ACCOUNT": "admin"}
        )
    assert "cantho: cut over" in again.output.replace("\n", " ") or "cut over" in again.output
    left = copy.cli("steward", "left", account="admin").output
    assert "cantho: CUT OVER" in left
    engine = make_engine(copy.url)
    with Session(engine) as s:
        assert s.get(Cutover, "cantho") is not None
    engine.dispose()

    entries = copy.audit()
    assert ("steward1", "steward.bulk.preview") in entries or "bulk" not in plan.values()
    assert ("steward1", "steward.dismiss.propose") in entries
    assert ("steward2", "steward.dismiss.approve") in entries
    assert ("steward1", "steward.correct") in entries or "correct" not in plan.values()
    assert ("admin", "cutover.commit") in entries


def test_the_demo_reaches_ready_in_the_browser(copy: Store) -> None:
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install -y chromium)")
    from playwright.sync_api import Browser, Page, expect

    records = copy.open_records()
    plan = {q.id: _policy(q.reasons) for q in records}
    settings = Settings(
        database_url=copy.url, secret_key="steward-browser-secret-0123456789", sync_config=str(copy.config)
    )
    engine = make_engine(copy.url)

    def signin(browser: Browser, base: str, name: str) -> Page:
        context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="vi-VN", base_url=base)
        page = context.new_page()
        page.goto("/signin?next=/steward")
        page.get_by_label("Tên đăng nhập").fill(name)
        page.get_by_label("Mật khẩu").fill(PASSWORD)
        page.get_by_role("button", name="Đăng nhập").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Chuẩn bị chuyển đổi")
        return page

    try:
        with (
            serve_in_thread(copy.demo.out),
            serve(create_app(settings, engine)) as base,
            chromium() as browser,
        ):
            first = signin(browser, base, "steward1")
            for source in SOURCES:
                row = first.locator(f'#left tr[data-source="{source}"]')
                expect(row.locator('[data-verdict="not_ready"]')).to_be_visible()
            first.locator('#left tr[data-source="cantho"] td[data-col="quarantined"] a').click()
            expect(first.get_by_role("heading", level=1)).to_contain_text("cantho")

            if "bulk" in plan.values():
                first.goto("/steward/quarantine?" + "reason=invalid+date+in+due_at")
                bulk = first.locator("#bulk")
                bulk.get_by_label("Trường", exact=True).select_option("due_at")
                bulk.get_by_label("Quy tắc", exact=True).select_option("copy")
                bulk.get_by_label("Giá trị (hoặc tên trường, hoặc chuỗi mới)").fill("received_at")
                bulk.get_by_role("button", name="Xem trước").click()
                preview = first.locator("#preview")
                expect(preview.locator('[data-loads="yes"]')).to_have_count(sum(p == "bulk" for p in plan.values()))
                first.locator("#bulk").get_by_role("button", name="Áp dụng").click()
                expect(first.get_by_role("status")).to_contain_text("Đã sửa hàng loạt")

            for record_id in (i for i, p in plan.items() if p == "correct"):
                first.goto(f"/steward/quarantine/{record_id}")
                first.get_by_label("procedure_code").fill("1.001193")
                first.get_by_role("button", name="Lưu bản sửa và nạp hồ sơ").click()
                expect(first.get_by_role("status")).to_contain_text("Đã sửa và nạp hồ sơ")

            for record_id in (i for i, p in plan.items() if p == "dismiss"):
                first.goto("/steward/quarantine")
                row = first.locator(f'#records tr[data-id="{record_id}"]')
                row.get_by_label("Lý do loại bỏ").select_option("test_record")
                row.get_by_role("button", name="Đề nghị loại bỏ").click()
                expect(first.get_by_role("status")).to_contain_text("cần người thứ hai duyệt")
            expect(first.locator("#proposals")).to_contain_text("Đề nghị của bạn")

            second = signin(browser, base, "steward2")
            second.goto("/steward/quarantine")
            while second.locator("#proposals").get_by_role("button", name="Duyệt").count():
                second.locator("#proposals").get_by_role("button", name="Duyệt").first.click()
                expect(second.get_by_role("status")).to_contain_text("Đã duyệt loại bỏ")
            expect(second.locator("main")).to_contain_text("Không còn gì.")

            # A split commune's dossier in the review queue: the second steward picks its unit among the candidates.
            second.goto("/steward/review?source=cantho")
            rows = second.locator("#review tbody tr")
            waiting = rows.count()
            if waiting:
                code = rows.first.get_attribute("data-code")
                choice = rows.first.get_by_role("combobox")
                choice.select_option(index=choice.locator("option").count() - 1)
                rows.first.get_by_role("button", name="Chọn đơn vị").click()
                expect(second.get_by_role("status")).to_contain_text(f"Đã gán đơn vị: {code}")
                expect(second.locator("#review tbody tr")).to_have_count(waiting - 1)

            second.goto("/steward")
            second.get_by_role("button", name="Kiểm tra lại các nguồn").click()
            expect(second.get_by_role("status")).to_contain_text("Đã kiểm tra lại")
            for source in SOURCES:
                row = second.locator(f'#left tr[data-source="{source}"]')
                expect(row.locator('[data-verdict="ready"]')).to_be_visible()
                expect(row.locator('td[data-col="quarantined"]')).to_have_text("0")
            ARTIFACTS.mkdir(exist_ok=True)
            second.screenshot(path=str(ARTIFACTS / "steward_ready.png"), full_page=True)
    finally:
        engine.dispose()
    entries = copy.audit()
    assert ("steward1", "steward.dismiss.propose") in entries
    assert ("steward2", "steward.dismiss.approve") in entries
    assert ("steward1", "steward.correct") in entries or "correct" not in plan.values()
    assert ("steward1", "steward.bulk.correct") in entries or "bulk" not in plan.values()
    assert ("steward2", "steward.unit") in entries
