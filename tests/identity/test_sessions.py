"""Sessions, CSRF, throttling, secrets, passwords and the web's edges, through the real app (both backends)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta

import pytest
import time_machine
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from hopnhat.app import create_app
from hopnhat.cli import app as cli
from hopnhat.config import Settings
from hopnhat.db import make_engine, session_scope
from hopnhat.errors import InvalidInput
from hopnhat.identity import passwords, service
from hopnhat.identity.models import ApiToken, User, WebSession
from hopnhat.identity.roles import Role
from tests.identity_support import PASSWORD, add_account, bearer, page_csrf, signin


@dataclass
class Site:
    engine: Engine
    settings: Settings

    def client(self, **kwargs: object) -> TestClient:
        return TestClient(create_app(self.settings, self.engine), follow_redirects=False, **kwargs)  # type: ignore[arg-type]


@pytest.fixture
def site(store_url: str) -> Iterator[Site]:
    engine = make_engine(store_url)
    with session_scope(engine) as s:
        add_account(s, Role.DEPARTMENT_OPERATOR, username="operator")
        add_account(s, Role.ADMINISTRATOR, username="admin")
    try:
        yield Site(engine, Settings(database_url=store_url, trusted_proxies="10.9.0.0/16"))
    finally:
        engine.dispose()


def _signed_in(site: Site, username: str = "operator") -> TestClient:
    client = site.client()
    assert signin(client, username).status_code == 303  # type: ignore[attr-defined]
    assert client.get("/").status_code == 200
    return client


def _old_style_cookie(secret: str, username: str) -> str:
    """A cookie as hopnhat signed them before identity: base64(json).hmac, keyed by the old default secret."""
    body = base64.urlsafe_b64encode(
        json.dumps({"u": username, "n": "x", "e": int(time.time()) + 3600}, separators=(",", ":")).encode()
    ).rstrip(b"=")
    mac = base64.urlsafe_b64encode(hmac.new(secret.encode(), b"session:" + body, hashlib.sha256).digest())
    return f"{body.decode()}.{mac.decode().rstrip('=')}"


def test_a_cookie_signed_with_the_old_default_secret_gives_nothing(site: Site) -> None:
    client = site.client()
    client.cookies.set("hopnhat_session", _old_style_cookie("change-me-in-production", "admin"))
    assert client.get("/").status_code == 303  # to the sign-in page
    assert client.get("/api/v1/continuity/systems").status_code == 401


def test_the_secret_is_generated_once_and_shared_by_every_app_on_the_store(site: Site) -> None:
    first = create_app(site.settings, site.engine).state.secret_key
    second = create_app(site.settings, site.engine).state.secret_key
    assert first == second and len(first) >= 48
    assert first != "change-me-in-production"


def test_sign_out_ends_the_session_in_the_store(site: Site) -> None:
    client = _signed_in(site)
    cookie = client.cookies.get("hopnhat_session")
    assert cookie
    out = client.post("/signout", data={"csrf": page_csrf(client)})
    assert out.status_code == 303
    again = site.client()
    again.cookies.set("hopnhat_session", cookie)  # a copy kept by an attacker or a shared computer
    assert again.get("/").status_code == 303
    with Session(site.engine) as s:
        assert s.scalar(select(WebSession.ended_at).where(WebSession.method == "password")) is not None


def test_a_password_change_and_a_disable_end_every_session(site: Site) -> None:
    first, second = _signed_in(site), _signed_in(site)
    with session_scope(site.engine) as s:
        service.set_password(s, "operator", "another-long-passphrase-77")
    assert first.get("/").status_code == 303
    assert second.get("/").status_code == 303
    third = site.client()
    assert signin(third, "operator", "another-long-passphrase-77").status_code == 303  # type: ignore[attr-defined]
    with session_scope(site.engine) as s:
        token = service.create_token(s, "operator", "job", "read").token
        service.set_active(s, "operator", False)
    assert third.get("/").status_code == 303
    assert site.client().get("/api/v1/continuity/systems", headers=bearer(token)).status_code == 401
    assert signin(site.client(), "operator", "another-long-passphrase-77").status_code == 401  # type: ignore[attr-defined]


def test_idle_and_absolute_timeouts_end_a_session(site: Site) -> None:
    with time_machine.travel(0, tick=True) as clock:
        clock.move_to("2026-12-01 08:00:00+07:00")
        client = _signed_in(site)
        clock.shift(timedelta(minutes=59))
        assert client.get("/").status_code == 200  # still within the idle time: this touches it
        clock.shift(timedelta(minutes=61))
        assert client.get("/").status_code == 303
        client = _signed_in(site)
        for _ in range(14):  # active all day, a request every 55 minutes: the absolute end still comes
            clock.shift(timedelta(minutes=55))
            client.get("/")
        assert client.get("/").status_code == 303


def test_csrf_is_refused_on_sign_in_sign_out_and_api_changes(site: Site) -> None:
    client = site.client()
    client.get("/signin")
    forged = client.post("/signin", data={"username": "operator", "password": PASSWORD, "csrf": "forged"})
    assert forged.status_code == 403
    assert "hopnhat_session" not in forged.cookies
    client = _signed_in(site)
    assert client.post("/signout", data={}).status_code == 403
    assert client.get("/").status_code == 200, "a forged sign-out must not end the session"
    # A cookie-authenticated API change needs the session's token in a header: another site cannot read it.
    body = {"code": "LGSP", "name": "Nền tảng LGSP"}
    assert client.post("/api/v1/continuity/systems", json=body).status_code == 403
    ok = client.post("/api/v1/continuity/systems", json=body, headers={"X-CSRF-Token": page_csrf(client)})
    assert ok.status_code == 201, ok.text


def test_repeated_failures_slow_the_attacker_without_locking_the_officer_out(site: Site) -> None:
    # The first delay is one second from the last failure: on a loaded machine a sign-in (Argon2) can take longer
    # than that, so the clock stands still here and the test measures the rule, not the machine.
    with time_machine.travel(time.time(), tick=False):
        # Both behind a trusted proxy (10.9.0.1) that says who they are.
        attacker = site.client(client=("10.9.0.1", 5000), headers={"X-Forwarded-For": "203.0.113.7"})
        for _ in range(5):  # the free failures: answered at once
            got = signin(attacker, "operator", "wrong-password-123")
            assert got.status_code == 401  # type: ignore[attr-defined]
        throttled = signin(attacker, "operator", PASSWORD)  # even the right password waits now, from this address
        assert throttled.status_code == 429  # type: ignore[attr-defined]
        assert "giây" in throttled.text  # type: ignore[attr-defined]
        officer = site.client(client=("10.9.0.1", 5001), headers={"X-Forwarded-For": "198.51.100.20"})
        assert signin(officer, "operator", PASSWORD).status_code == 303  # type: ignore[attr-defined]


def test_unknown_accounts_are_answered_like_wrong_passwords(site: Site) -> None:
    client = site.client()
    unknown = signin(client, "nobody-here", "wrong-password-123")
    wrong = signin(site.client(), "operator", "wrong-password-123")
    assert unknown.status_code == wrong.status_code == 401  # type: ignore[attr-defined]
    assert unknown.text.count("notice error") == wrong.text.count("notice error")  # type: ignore[attr-defined]


def test_client_address_comes_from_trusted_proxies_only(site: Site) -> None:
    settings = site.settings.model_copy(update={"public_rate_limit_per_minute": 3})
    app = create_app(settings, site.engine)
    rotating = TestClient(app, client=("192.0.2.50", 4000))  # not a trusted proxy
    codes = []
    for i in range(5):
        rotating.headers["X-Forwarded-For"] = f"198.51.100.{i}"
        codes.append(rotating.get("/api/v1/public/dossiers/NONE-1").status_code)
    assert codes[:3] == [404, 404, 404] and codes[3:] == [429, 429], "rotating X-Forwarded-For bypassed the limit"


def test_pages_carry_the_security_headers_and_docs_load_nothing_from_a_cdn(site: Site) -> None:
    client = _signed_in(site)
    page = client.get("/")
    csp = page.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp
    assert page.headers["cache-control"] == "no-store"
    assert page.headers["referrer-policy"] == "same-origin"
    assert page.headers["x-content-type-options"] == "nosniff"
    assert "<script>" not in page.text, "no inline script"
    docs = client.get("/docs")
    assert docs.status_code == 200
    assert "cdn" not in docs.text.lower() and "/static/swagger/swagger-ui-bundle.js" in docs.text
    assert client.get("/static/swagger/swagger-ui-bundle.js").status_code == 200
    assert client.get("/openapi.json").json()["info"]["title"] == "hopnhat"


def test_cookies_are_secure_behind_tls(site: Site) -> None:
    client = site.client(base_url="https://hopnhat.test")
    response = signin(client, "operator")
    assert "secure" in response.headers["set-cookie"].lower()  # type: ignore[attr-defined]
    assert response.headers["strict-transport-security"]  # type: ignore[attr-defined]


def test_password_policy_and_rehash() -> None:
    for weak in ("short1", "password123456", "PROFESSIONAL"):
        with pytest.raises(InvalidInput):
            passwords.check_policy(weak)
    with pytest.raises(InvalidInput):
        passwords.check_policy("officer-one-secret", "officer-one")
    stored = passwords.hash_password("a-good-long-passphrase")
    assert stored.startswith("$argon2id$") and "m=19456,t=2,p=1" in stored
    assert passwords.verify_password("a-good-long-passphrase", stored)
    assert not passwords.verify_password("a-good-long-passphrase!", stored)


def test_an_old_scrypt_hash_is_replaced_at_sign_in(site: Site) -> None:
    salt = bytes(16)
    digest = hashlib.scrypt(PASSWORD.encode(), salt=salt, n=2**14, r=8, p=1, dklen=32)
    with session_scope(site.engine) as s:
        user = s.scalar(select(User).where(User.username == "operator"))
        assert user is not None
        user.password_hash = f"scrypt${2**14}$8$1${salt.hex()}${digest.hex()}"
    assert signin(site.client(), "operator").status_code == 303  # type: ignore[attr-defined]
    with Session(site.engine) as s:
        assert (s.scalar(select(User.password_hash).where(User.username == "operator")) or "").startswith("$argon2id$")


def test_tokens_are_shown_once_listed_without_the_secret_and_revocable(site: Site, store_url: str) -> None:
    with session_scope(site.engine) as s:
        admin_token = service.create_token(s, "admin", "cli", "admin").token
    # The CLI acts as the administrator's token (on PostgreSQL it must: the database password says nothing of who).
    runner = CliRunner(env={"HOPNHAT_TOKEN": admin_token})
    made = runner.invoke(
        cli,
        [
            "--db",
            store_url,
            "tokens",
            "create",
            "--name",
            "mobile-app",
            "--user",
            "operator",
            "--scope",
            "read",
            "--json",
        ],
    )
    assert made.exit_code == 0, made.output
    token = json.loads(made.output)["token"]
    client = site.client()
    assert client.get("/api/v1/identity/me", headers=bearer(token)).json()["scopes"] == ["read"]
    listed = runner.invoke(cli, ["--db", store_url, "tokens", "list", "--json"])
    assert token not in listed.output and token[:10] in listed.output
    with Session(site.engine) as s:
        stored = s.scalars(select(ApiToken.token_hash)).all()
    assert token not in stored
    token_id = json.loads(made.output)["id"]
    assert runner.invoke(cli, ["--db", store_url, "tokens", "revoke", str(token_id)]).exit_code == 0
    assert client.get("/api/v1/identity/me", headers=bearer(token)).status_code == 401
    refused = runner.invoke(
        cli, ["--db", store_url, "tokens", "create", "--name", "x", "--user", "operator", "--scope", "admin"]
    )
    assert refused.exit_code == 1 and "administrator" in refused.output


def test_serve_refuses_a_known_weak_secret_off_loopback(monkeypatch: pytest.MonkeyPatch, store_url: str) -> None:
    monkeypatch.setenv("HOPNHAT_SECRET_KEY", "change-me-in-production")
    result = CliRunner().invoke(cli, ["--db", store_url, "serve", "--host", "0.0.0.0"])
    assert result.exit_code == 1
    assert "HOPNHAT_SECRET_KEY" in result.output
