"""Edges found in review: token scopes on page forms, mixed roles and reports, forwarded-for lines, provider
usernames, an empty citizen ID."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlalchemy.orm import Session
from starlette.requests import Request

from hopnhat.app import create_app
from hopnhat.config import Settings
from hopnhat.db import ensure_schema, make_engine, session_scope
from hopnhat.errors import InvalidInput
from hopnhat.identity import audit, oidc, service
from hopnhat.identity.http import client_address
from hopnhat.identity.models import AuditEntry, Membership
from hopnhat.identity.roles import Role
from hopnhat.settlement import service as settlement
from hopnhat.store.models import Dossier, Status
from tests.identity_support import add_account, bearer, signin

CENTER_A, CENTER_B = "000.00.31.H92", "000.00.32.H92"


@pytest.fixture
def engine(tmp_path: object) -> Iterator[Engine]:
    eng = make_engine(f"sqlite:///{tmp_path}/edges.db")
    ensure_schema(eng)
    now = datetime.now(UTC)
    with session_scope(eng) as s:
        for code, center in (("H92-E-A", CENTER_A), ("H92-E-B", CENTER_B)):
            s.add(
                Dossier(
                    code=code,
                    province_code="92",
                    procedure_code="1.001234",
                    status=int(Status.IN_PROCESS),
                    received_at=now - timedelta(days=1),
                    due_at=now + timedelta(days=2),
                    center_code=center,
                )
            )
    yield eng
    eng.dispose()


def test_a_read_token_cannot_submit_a_page_form(engine: Engine) -> None:
    with session_scope(engine) as s:
        add_account(s, Role.DATA_STEWARD, username="steward")
        token = service.create_token(s, "steward", "reader", "read").token
    client = TestClient(create_app(Settings(database_url=str(engine.url)), engine), follow_redirects=False)
    assert client.get("/sync/quarantine", headers=bearer(token)).status_code == 200  # reading is its scope
    assert client.post("/sync/quarantine/1/replay", headers=bearer(token)).status_code == 403
    with Session(engine) as s:
        assert s.query(AuditEntry).filter_by(action="quarantine.replay").count() == 0


def test_a_leader_with_another_role_still_reports_on_their_centers_only(engine: Engine) -> None:
    with session_scope(engine) as s:
        name = add_account(s, Role.CENTER_LEADER, centers=[CENTER_A])
        leader = service.get_user(s, name)
        leader.memberships.append(Membership(kind="role", code="auditor"))
    with Session(engine) as s:
        who = service.principal_for(service.get_user(s, name), "cli")
        assert who.roles == {Role.CENTER_LEADER, Role.AUDITOR}
        cal = settlement.load_calendar(s)
        rows = settlement.report(s, date(2000, 1, 1), date(2100, 1, 1), cal, principal=who)
    assert [r.center_code for r in rows] == [CENTER_A]


def test_every_forwarded_for_line_counts_and_the_nearest_untrusted_hop_wins(engine: Engine) -> None:
    app = create_app(Settings(database_url=str(engine.url), trusted_proxies="10.0.0.0/8"), engine)
    # The client forged the first line; the proxy added its own second line instead of appending.
    headers = [("x-forwarded-for", "198.51.100.77"), ("x-forwarded-for", "203.0.113.9")]
    request_scope = {
        "type": "http",
        "headers": [(k.encode(), v.encode()) for k, v in headers],
        "client": ("10.0.0.5", 1),
    }
    request = Request({**request_scope, "app": app, "method": "GET", "path": "/", "query_string": b""})
    assert client_address(request) == "203.0.113.9"


def test_a_providers_odd_or_taken_username_becomes_a_derived_one(engine: Engine) -> None:
    rules = oidc.RoleMapping.load(None)
    with session_scope(engine) as s:
        add_account(s, Role.ADMINISTRATOR, username="admin")
        taken = oidc.account_for_claims(
            s, "https://sso.test", {"sub": "1", "preferred_username": "admin", "groups": ["hopnhat-auditors"]}, rules
        )
        odd = oidc.account_for_claims(
            s, "https://sso.test", {"sub": "2", "preferred_username": "os:root", "groups": ["hopnhat-auditors"]}, rules
        )
        fine = oidc.account_for_claims(
            s, "https://sso.test", {"sub": "3", "preferred_username": "chi.tran", "groups": ["hopnhat-auditors"]}, rules
        )
        assert taken.username.startswith("sso-") and taken.role == "auditor"
        assert odd.username.startswith("sso-") and odd.username != taken.username
        assert fine.username == "chi.tran"
        assert service.get_user(s, "admin").role == "administrator"  # the local account is untouched


def test_an_empty_citizen_id_is_refused_not_matched_to_everything(engine: Engine) -> None:
    with session_scope(engine) as s:
        audit.record(s, None, "signin.failed")
    with Session(engine) as s, pytest.raises(InvalidInput):
        audit.citizen_report(s, "   ")


def test_a_sign_in_is_committed_before_its_redirect_is_answered(engine: Engine) -> None:
    """Over real HTTP: the landing page, asked for the moment the sign-in answers, finds the session (FastAPI ends
    a ``yield`` dependency after the response unless told otherwise, which made browsers bounce back to sign-in)."""
    import httpx

    from tests.http_support import serve

    with session_scope(engine) as s:
        add_account(s, Role.DEPARTMENT_OPERATOR, username="operator")
    app = create_app(Settings(database_url=str(engine.url)), engine)
    with serve(app, lifespan="off") as base:
        bounced = 0
        for _ in range(15):
            with httpx.Client(base_url=base) as client:
                assert signin(client, "operator").status_code == 303  # type: ignore[attr-defined]
                bounced += client.get("/").status_code != 200
        assert bounced == 0
