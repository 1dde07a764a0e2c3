"""The audit log: views of personal data through the page, the API and the CLI are recorded with their principal;
the chain finds an edited or deleted entry; the per-citizen report lists exactly the accesses made."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select, update
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from hopnhat.app import create_app
from hopnhat.cli import app as cli
from hopnhat.config import Settings
from hopnhat.db import make_engine, session_scope
from hopnhat.identity import audit, service
from hopnhat.identity.models import AuditEntry, AuditHead
from hopnhat.identity.roles import Role
from hopnhat.store.models import Dossier, Status
from tests.identity_support import add_account, bearer, page_csrf, signin

CENTER = "000.00.31.H92"
CITIZEN = "092123456789"
OTHER_CITIZEN = "092000000001"
KEY = "audit-key-kept-outside-the-store-0123456789"


@dataclass
class Site:
    engine: Engine
    url: str

    def client(self, **kwargs: object) -> TestClient:
        settings = Settings(database_url=self.url, audit_key=KEY)
        return TestClient(create_app(settings, self.engine), follow_redirects=False, **kwargs)  # type: ignore[arg-type]

    def entries(self, action: str | None = None) -> list[AuditEntry]:
        with Session(self.engine) as s:
            query = select(AuditEntry).order_by(AuditEntry.id)
            if action:
                query = query.where(AuditEntry.action == action)
            return list(s.scalars(query))


def _dossier(code: str, citizen: str) -> Dossier:
    now = datetime.now(UTC)
    return Dossier(
        code=code,
        province_code="92",
        procedure_code="1.001234",
        applicant_name="Trần Thị Riêng Tư",
        applicant_id_number=citizen,
        applicant_phone="0909123456",
        status=int(Status.IN_PROCESS),
        received_at=now - timedelta(days=1),
        due_at=now + timedelta(days=3),
        center_code=CENTER,
    )


@pytest.fixture
def site(store_url: str) -> Iterator[Site]:
    engine = make_engine(store_url)
    with session_scope(engine) as s:
        add_account(s, Role.CENTER_OFFICER, username="officer", centers=[CENTER])
        add_account(s, Role.AUDITOR, username="auditor")
        s.add(_dossier("H92-AUD-0001", CITIZEN))
        s.add(_dossier("H92-AUD-0002", OTHER_CITIZEN))
    try:
        yield Site(engine, store_url)
    finally:
        engine.dispose()


def _token(site: Site, username: str, scopes: str = "write") -> str:
    with session_scope(site.engine) as s:
        return service.create_token(s, username, "test", scopes).token


def test_views_through_page_api_and_cli_are_recorded_with_their_principal(site: Site) -> None:
    # The API: the officer's read of one dossier shows the applicant and records the view.
    api = site.client(client=("203.0.113.9", 4000))
    shown = api.get("/api/v1/dossiers/H92-AUD-0001", headers=bearer(_token(site, "officer")))
    assert shown.status_code == 200
    assert shown.json()["applicant"]["id_number"] == CITIZEN
    # The page: the officer's list shows names, so each dossier shown is a recorded view.
    page = site.client()
    assert signin(page, "officer").status_code == 303  # type: ignore[attr-defined]
    assert page.get("/dossiers").status_code == 200
    # The CLI, acting as the officer's token.
    out = CliRunner(env={"HOPNHAT_TOKEN": _token(site, "officer")}).invoke(
        cli, ["--db", site.url, "dossiers", "show", "H92-AUD-0002"]
    )
    assert out.exit_code == 0, out.output
    views = [(e.action, e.object_id, e.actor, e.via) for e in site.entries() if e.action.startswith("dossier.")]
    assert ("dossier.view", "H92-AUD-0001", "officer", "token") in views
    assert ("dossier.list", "H92-AUD-0001", "officer", "session") in views
    assert ("dossier.list", "H92-AUD-0002", "officer", "session") in views
    assert ("dossier.view", "H92-AUD-0002", "officer", "token") in views
    api_view = next(e for e in site.entries("dossier.view") if e.object_id == "H92-AUD-0001")
    assert api_view.client == "203.0.113.9"
    assert "center_officer" in api_view.roles
    # The ID number itself is nowhere in the log.
    with Session(site.engine) as s:
        dump = json.dumps([audit.as_row(e) | {"h": e.subject_hash} for e in s.scalars(select(AuditEntry))], default=str)
    assert CITIZEN not in dump and "Riêng Tư" not in dump


def test_the_citizen_report_lists_exactly_the_accesses_made(site: Site) -> None:
    token = _token(site, "officer")
    api = site.client()
    for _ in range(2):
        api.get("/api/v1/dossiers/H92-AUD-0001", headers=bearer(token))
    api.get("/api/v1/dossiers/H92-AUD-0002", headers=bearer(token))
    runner = CliRunner(env={"HOPNHAT_TOKEN": _token(site, "auditor", "read")})
    report = runner.invoke(cli, ["--db", site.url, "audit", "citizen", f" {CITIZEN.lower()} ", "--format", "json"])
    assert report.exit_code == 0, report.output
    rows = json.loads(report.output)
    assert [(r["action"], r["object_id"], r["actor"]) for r in rows] == [
        ("dossier.view", "H92-AUD-0001", "officer")
    ] * 2
    # The query itself is an access by the auditor, recorded under the same citizen.
    again = json.loads(runner.invoke(cli, ["--db", site.url, "audit", "citizen", CITIZEN, "--format", "json"]).output)
    assert [r["action"] for r in again][-1] == "audit.citizen_report"
    # An officer may not read the log.
    refused = CliRunner(env={"HOPNHAT_TOKEN": token}).invoke(cli, ["--db", site.url, "audit", "citizen", CITIZEN])
    assert refused.exit_code == 1 and "audit.read" in refused.output


def test_verify_names_an_edited_and_a_deleted_entry(site: Site) -> None:
    token = _token(site, "officer")
    api = site.client()
    for _ in range(5):
        api.get("/api/v1/dossiers/H92-AUD-0001", headers=bearer(token))
    assert audit.seal_now(site.engine, KEY) >= 5
    with Session(site.engine) as s:
        good = audit.verify(s, KEY)
    assert good.ok and good.signed and good.entries >= 5
    target = site.entries("dossier.view")[2]
    with session_scope(site.engine) as s:
        s.execute(update(AuditEntry).where(AuditEntry.id == target.id).values(actor="somebody-else"))
    result = CliRunner().invoke(cli, ["--db", site.url, "audit", "verify"], env={"HOPNHAT_AUDIT_KEY": KEY})
    assert result.exit_code == 1
    assert f"entry {target.seq}" in result.output and "altered" in result.output
    with session_scope(site.engine) as s:
        s.execute(update(AuditEntry).where(AuditEntry.id == target.id).values(actor="officer"))
        s.delete(s.get(AuditEntry, site.entries("dossier.view")[1].id))
    with Session(site.engine) as s:
        gone = audit.verify(s, KEY)
    assert not gone.ok and "missing" in (gone.reason or "")


def test_a_recomputed_chain_is_caught_by_the_signed_head(site: Site) -> None:
    api = site.client()
    api.get("/api/v1/dossiers/H92-AUD-0001", headers=bearer(_token(site, "officer")))
    audit.seal_now(site.engine, KEY)
    # A database writer edits an entry and recomputes every hash after it, and the head's hash: without the key,
    # the head's signature no longer matches.
    with session_scope(site.engine) as s:
        entries = list(s.scalars(select(AuditEntry).order_by(AuditEntry.seq)))
        entries[0].actor = "forged"
        prev = audit.GENESIS
        for e in entries:
            e.prev_hash, e.hash = prev, audit.entry_hash(prev, e)
            prev = e.hash
        for head in s.scalars(select(AuditHead)):
            head.hash = next(e.hash for e in entries if e.seq == head.seq) or ""
    with Session(site.engine) as s:
        assert audit.verify(s, None).ok, "without the key the rewrite is invisible: that is why the key exists"
        caught = audit.verify(s, KEY)
    assert not caught.ok and "not signed" in (caught.reason or "")


def test_sign_ins_and_failures_go_to_the_audit_log_not_the_plain_log(
    site: Site, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    client = site.client()
    assert signin(client, "officer", "my-password-typed-as-name").status_code == 401  # type: ignore[attr-defined]
    assert signin(client, "hunter2-typed-in-username", "x" * 12).status_code == 401  # type: ignore[attr-defined]
    assert signin(client, "officer").status_code == 303  # type: ignore[attr-defined]
    client.post("/signout", data={"csrf": page_csrf(client, "/dossiers")})
    actions = [(e.action, e.object_id, e.actor) for e in site.entries() if e.action.startswith("sign")]
    assert actions == [
        ("signin.failed", "officer", None),
        ("signin.failed", None, None),  # an unknown name is not kept: it may be a password
        ("signin", "officer", "officer"),
        ("signout", "officer", "officer"),
    ]
    assert "hunter2" not in caplog.text and "my-password" not in caplog.text


def test_changes_record_old_and_new_values_but_no_personal_values(site: Site) -> None:
    token = _token(site, "officer")
    api = site.client()
    moved = api.post("/api/v1/dossiers/H92-AUD-0001/transitions", json={"to": "finished"}, headers=bearer(token))
    assert moved.status_code == 200, moved.text
    change = site.entries("dossier.transition")[-1]
    assert change.changes is not None and change.changes["status"] == [int(Status.IN_PROCESS), int(Status.FINISHED)]
    assert change.actor == "officer" and change.subject_hash == _hash(site, CITIZEN)
    admin = CliRunner().invoke(cli, ["--db", site.url, "users", "disable", "officer"])  # SQLite: the OS user
    if site.url.startswith("sqlite"):
        assert admin.exit_code == 0, admin.output
        assert site.entries("account.disable")[-1].changes == {"active": [True, False]}


def _hash(site: Site, citizen: str) -> str | None:
    with Session(site.engine) as s:
        return audit.subject_hash(s, citizen)


def test_the_audit_page_is_for_auditors_and_finds_a_citizen_by_post(site: Site) -> None:
    api = site.client()
    api.get("/api/v1/dossiers/H92-AUD-0001", headers=bearer(_token(site, "officer")))
    officer = site.client()
    signin(officer, "officer")
    assert officer.get("/audit").status_code == 403
    auditor = site.client()
    signin(auditor, "auditor")
    page = auditor.get("/audit?action=dossier.view")
    assert page.status_code == 200 and "H92-AUD-0001" in page.text
    found = auditor.post("/audit/citizen", data={"id_number": CITIZEN, "csrf": page_csrf(auditor, "/audit")})
    assert found.status_code == 200 and "H92-AUD-0001" in found.text
    assert CITIZEN not in found.text.replace(f'value="{CITIZEN}"', "")
    csv = auditor.post(
        "/audit/citizen", data={"id_number": CITIZEN, "format": "csv", "csrf": page_csrf(auditor, "/audit")}
    )
    assert csv.status_code == 200 and "dossier.view" in csv.text
    assert auditor.post("/audit/citizen", data={"id_number": CITIZEN}).status_code == 403  # no CSRF token


def test_a_rewrite_with_its_heads_removed_is_caught_and_never_resealed(site: Site) -> None:
    """The reviewer's attack: rewrite the tail without the key, recompute its hashes, delete the heads that vouched
    for it, and wait for the server to sign the forgery at its next sealing step."""
    from hopnhat.identity.models import AuditHead

    token = _token(site, "officer")
    api = site.client()
    for _ in range(3):
        api.get("/api/v1/dossiers/H92-AUD-0001", headers=bearer(token))
        audit.seal_now(site.engine, KEY)  # a head after each
    with session_scope(site.engine) as s:
        entries = list(s.scalars(select(AuditEntry).order_by(AuditEntry.seq)))
        first_head = min(h.seq for h in s.scalars(select(AuditHead)))
        prev = next(e.hash for e in entries if e.seq == first_head) or ""
        for e in entries:
            if (e.seq or 0) > first_head:
                e.actor = "someone-else"
                e.prev_hash, e.hash = prev, audit.entry_hash(prev, e)
                prev = e.hash
        for head in s.scalars(select(AuditHead).where(AuditHead.seq > first_head)):
            s.delete(head)
    with Session(site.engine) as s:
        caught = audit.verify(s, KEY)
    assert not caught.ok and "not covered by a signed head" in (caught.reason or "")
    api.get("/api/v1/dossiers/H92-AUD-0002", headers=bearer(token))
    with pytest.raises(audit.AuditBroken):
        audit.seal_now(site.engine, KEY)  # the sealer refuses to vouch for the forged tail
    with Session(site.engine) as s:
        assert not audit.verify(s, KEY).ok


def test_administrative_changes_are_recorded_with_what_changed(site: Site) -> None:
    with session_scope(site.engine) as s:
        add_account(s, Role.DEPARTMENT_OPERATOR, username="operator")
        add_account(s, Role.ADMINISTRATOR, username="admin")
    operator = bearer(_token(site, "operator"))
    api = site.client()
    made = api.post("/api/v1/continuity/systems", json={"code": "LGSP", "name": "LGSP"}, headers=operator)
    assert made.status_code == 201, made.text
    changed = api.patch("/api/v1/continuity/systems/LGSP", json={"criticality": "high"}, headers=operator)
    assert changed.status_code == 200, changed.text
    probe = {"name": "lgsp-http", "kind": "http", "target": "http://10.0.0.5/health"}
    admin = bearer(_token(site, "admin", "admin"))
    assert api.put("/api/v1/continuity/systems/LGSP/probes", json=probe, headers=admin).status_code == 200
    result = CliRunner(env={"HOPNHAT_TOKEN": _token(site, "operator")}).invoke(
        cli, ["--db", site.url, "calendar", "days", "add", "2026-12-24", "--kind", "off", "--note", "Noel"]
    )
    assert result.exit_code == 0, result.output
    entries = {e.action: e for e in site.entries()}
    assert entries["system.create"].actor == "operator"
    assert entries["system.change"].changes == {"criticality": ["medium", "high"]}
    assert entries["probe.save"].actor == "admin" and entries["probe.save"].object_id == "lgsp-http"
    assert entries["calendar.set_day"].object_id == "2026-12-24"
    assert entries["calendar.set_day"].actor == "operator"
