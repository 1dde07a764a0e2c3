"""The notices' templates, API, CLI and the dossier page's dead letters (SQLite: the pages and rules; the delivery
itself runs on both backends in test_delivery)."""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select, update
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from hopnhat.app import create_app
from hopnhat.cli import app as cli
from hopnhat.config import Settings
from hopnhat.db import ensure_schema, make_engine, utcnow
from hopnhat.identity.models import AuditEntry
from hopnhat.identity.roles import Role
from hopnhat.notices import service, templates
from hopnhat.portal.repository import claim_heads
from hopnhat.store.models import OutboxEvent
from hopnhat.store.outbox import NOTICE_EVENTS
from tests.identity_support import bearer, page_csrf, signin, token_for
from tests.web.officer_support import NINH_KIEU_NAME, NINH_KIEU_PHONE, OLD_ADDRESS, PASSWORD, seed_center

runner = CliRunner()


@dataclass
class Site:
    engine: Engine
    settings: Settings
    url: str

    def client(self, username: str) -> TestClient:
        client = TestClient(create_app(self.settings, self.engine), follow_redirects=False)
        assert signin(client, username, PASSWORD).status_code == 303
        return client


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    url = f"sqlite:///{tmp_path_factory.mktemp('notices') / 'store.db'}"
    engine = make_engine(url)
    ensure_schema(engine)
    seed_center(engine)
    settings = Settings(database_url=url, secret_key="notices-test-secret-0123456789")
    yield Site(engine, settings, url)
    engine.dispose()


def _intake(site: Site, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("HOPNHAT_NOTICE_CHANNELS", "email,sms")
    officer = site.client("cb_nk")
    form = {
        "csrf": page_csrf(officer, "/officer/intake"),
        "procedure_code": "1.001193",
        "channel": "1",
        "applicant_name": "Nguyễn Thị Thông Báo",
        "applicant_id_type": "cccd",
        "applicant_id_number": "092190004321",
        "applicant_email": "thong.bao@example.vn",
        "notice_consent": "1",
        "applicant_address": OLD_ADDRESS,
        "documents": ["TP1"],
    }
    response = officer.post("/officer/intake", data=form)
    assert response.status_code == 303, response.text
    return response.headers["location"].split("/")[3]


def test_every_default_template_renders_in_nfc_with_the_stop_link() -> None:
    for t in templates.defaults():
        text = templates.render(t.body, templates.SAMPLE)
        assert text == unicodedata.normalize("NFC", text)
        assert templates.SAMPLE["stop_url"] in text and templates.SAMPLE["dossier_code"] in text
        if t.event == "supplement":
            assert "Bản sao giấy chứng nhận kết hôn" in text
    assert {(t.event, t.channel) for t in templates.defaults()} == {
        (e, c) for e in NOTICE_EVENTS for c in ("email", "sms", "zalo")
    }


def test_intake_queues_a_receipt_to_the_consented_contacts_with_the_centers_name(
    site: Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    code = _intake(site, monkeypatch)
    with Session(site.engine) as s:
        rows = [r for r in claim_heads(s, utcnow(), 1000, lock=False, destination="email") if r.dossier_code == code]
        assert [r.kind for r in rows] == ["receipt"]  # no phone given: no SMS
        (ready,) = service.prepare(s, rows, "email", site.settings, "k")
        assert ready.message is not None and ready.message.to == "thong.bao@example.vn"
        assert NINH_KIEU_NAME in ready.message.text and NINH_KIEU_PHONE in ready.message.text
        assert f"/lookup?code={code}" in ready.message.text and "/notices/stop/" in ready.message.text
        assert ready.message.subject == f"Đã tiếp nhận hồ sơ {code}"
        sms = s.scalars(select(OutboxEvent).where(OutboxEvent.dossier_code == code, OutboxEvent.destination == "sms"))
        assert list(sms) == []


def test_a_dead_notice_shows_on_the_dossier_page_and_the_officer_resends_it(
    site: Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    code = _intake(site, monkeypatch)
    with Session(site.engine) as s:
        s.execute(
            update(OutboxEvent)
            .where(OutboxEvent.dossier_code == code, OutboxEvent.destination == "email")
            .values(state="dead", attempts=8, last_error="SMTP unavailable: ConnectionRefusedError")
        )
        s.commit()
        notice_id = s.scalars(
            select(OutboxEvent.id).where(OutboxEvent.dossier_code == code, OutboxEvent.destination == "email")
        ).one()
    other = site.client("cb_ck")  # another center's officer: cannot resend it
    csrf = page_csrf(other, "/officer")
    refused = other.post(f"/officer/dossiers/{code}/notices/{notice_id}/resend", data={"csrf": csrf})
    assert refused.status_code == 303 and "error=" in refused.headers["location"]
    officer = site.client("cb_nk")
    page = officer.get(f"/officer/dossiers/{code}")
    assert "Gửi không được" in page.text and "Gửi lại" in page.text and "ConnectionRefusedError" in page.text
    csrf = page_csrf(officer, f"/officer/dossiers/{code}")
    done = officer.post(f"/officer/dossiers/{code}/notices/{notice_id}/resend", data={"csrf": csrf})
    assert done.status_code == 303 and "done=notice_resend" in done.headers["location"]
    assert "Đã đưa thông báo vào hàng đợi gửi lại" in officer.get(done.headers["location"]).text
    with Session(site.engine) as s:
        assert s.get(OutboxEvent, notice_id).state == "pending"  # type: ignore[union-attr]
        who = s.scalars(select(AuditEntry.actor).where(AuditEntry.action == "notice.resend")).all()
        assert who == ["cb_nk"]


def test_templates_are_edited_by_an_administrator_checked_and_audited(site: Site) -> None:
    api = TestClient(create_app(site.settings, site.engine))
    admin = bearer(token_for(site.engine, Role.ADMINISTRATOR, scopes="admin"))
    operator = bearer(token_for(site.engine, Role.DEPARTMENT_OPERATOR, scopes="write"))
    assert api.get("/api/v1/notices/templates", headers=operator).status_code == 403
    assert len(api.get("/api/v1/notices/templates", headers=admin).json()) == 15
    body = "Hồ sơ {{ dossier_code }} đã có kết quả. Ngừng nhận: {{ stop_url }}"
    no_stop = api.put("/api/v1/notices/templates/result/sms", headers=admin, json={"body": "Hồ sơ {{ dossier_code }}"})
    assert no_stop.status_code == 422 and "stop_url" in no_stop.text
    escape = "{{ ''.__class__.__mro__[1].__subclasses__() }} {{ stop_url }}"
    assert api.put("/api/v1/notices/templates/result/sms", headers=admin, json={"body": escape}).status_code == 422
    assert api.put("/api/v1/notices/templates/result/fax", headers=admin, json={"body": body}).status_code == 422
    saved = api.put("/api/v1/notices/templates/result/sms", headers=admin, json={"body": body})
    assert saved.status_code == 200, saved.text
    listed = {(t["event"], t["channel"]): t for t in api.get("/api/v1/notices/templates", headers=admin).json()}
    assert listed[("result", "sms")]["body"] == body and listed[("result", "sms")]["edited_by"]
    with Session(site.engine) as s:
        entry = s.scalars(select(AuditEntry).where(AuditEntry.action == "notice.template.edit")).one()
        assert entry.object_id == "result/sms"


def test_cli_status_dead_list_resend_and_templates(site: Site, tmp_path: Path) -> None:
    db = ["--db", site.url]
    status = runner.invoke(cli, [*db, "notices", "status", "--json"])
    assert status.exit_code == 0, status.output
    assert [r["channel"] for r in json.loads(status.output)] == ["email", "sms", "zalo"]
    with Session(site.engine) as s:
        s.execute(update(OutboxEvent).where(OutboxEvent.destination == "email").values(state="dead", attempts=8))
        s.commit()
    dead = json.loads(runner.invoke(cli, [*db, "notices", "dead", "list", "--json"]).output)
    assert dead and all(d["channel"] == "email" for d in dead)
    assert "@" not in json.dumps(dead)  # no contact in a dead letter
    resent = runner.invoke(cli, [*db, "notices", "dead", "resend", str(dead[0]["id"])])
    assert resent.exit_code == 0, resent.output
    again = runner.invoke(cli, [*db, "notices", "dead", "resend", str(dead[0]["id"])])
    assert again.exit_code == 1 and "not dead" in again.output
    listed = runner.invoke(cli, [*db, "notices", "templates", "list"])
    assert listed.exit_code == 0 and "receipt/email (mặc định)" in listed.output  # Vietnamese by default
    body = tmp_path / "receipt.txt"
    body.write_text("Đã nhận hồ sơ {{ dossier_code }}. Ngừng nhận: {{ stop_url }}", encoding="utf-8")
    edited = runner.invoke(
        cli, [*db, "notices", "templates", "edit", "receipt", "email", "--body-file", str(body), "--subject", "Đã nhận"]
    )
    assert edited.exit_code == 0, edited.output
    assert "receipt/email (do " in runner.invoke(cli, [*db, "notices", "templates", "list"]).output
    english = runner.invoke(cli, [*db, "notices", "templates", "list"], env={"HOPNHAT_LANG": "en"})
    assert "receipt/email (edited by" in english.output
    people = runner.invoke(cli, [*db, "notices", "status"])
    assert people.exit_code == 0 and "Thư điện tử: chờ gửi" in people.output, people.output
    no_relay = runner.invoke(cli, [*db, "notices", "relay", "--once", "--channel", "sms"])
    assert no_relay.exit_code == 1 and "HOPNHAT_SMS_URL" in no_relay.output


def test_the_opt_out_page_is_rate_limited_per_address(site: Site) -> None:
    settings = Settings(database_url=site.url, secret_key=site.settings.secret_key, public_rate_limit_per_minute=2)
    public = TestClient(create_app(settings, site.engine))
    answers = [public.get("/notices/stop/000.00.31.H13-260210-0001.guess").status_code for _ in range(3)]
    assert answers == [404, 404, 429]
