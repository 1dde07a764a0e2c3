"""Single sign-on against a real OpenID Connect provider (``tests/oidc/provider.mjs``, the certified ``oidc-provider``).

The provider runs once for the module. The browser tests drive Debian's Chromium through Playwright against the app
served by uvicorn on a free port; the API tests present the provider's JWT access tokens to the app in-process.
Screenshots of the browser tests go to ``test-artifacts/``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from hopnhat.app import create_app
from hopnhat.config import Settings
from hopnhat.db import ensure_schema, make_engine
from hopnhat.errors import Unauthorized
from hopnhat.identity import oidc
from hopnhat.identity.http import SESSION_COOKIE
from hopnhat.identity.models import User, WebSession
from hopnhat.identity.roles import Role
from tests.http_support import CHROMIUM, chromium, serve
from tests.oidc_support import (
    API_AUDIENCE,
    CLIENT_ID,
    CLIENT_SECRET,
    DEFAULT_PASSWORD,
    Provider,
    free_port,
    password_login,
    provider_available,
    start_provider,
)

_UNAVAILABLE = provider_available()
if _UNAVAILABLE:
    pytest.skip(_UNAVAILABLE, allow_module_level=True)

from playwright.sync_api import Browser, Page, expect  # noqa: E402

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
CENTER = "000.00.31.H92"

ACCOUNTS: list[dict[str, Any]] = [
    {
        "sub": "sub-officer-7f3a",
        "preferred_username": "officer",
        "name": "Lê Thị Cán Bộ",
        "email": "officer@example.test",
        "groups": ["hopnhat-center-officers", f"center:{CENTER}"],
    },
    {
        "sub": "sub-operator-91c2",
        "preferred_username": "operator",
        "name": "Trần Văn Vận Hành",
        "email": "operator@example.test",
        "groups": ["hopnhat-department-operators"],
    },
    {
        "sub": "sub-nobody-04d8",
        "preferred_username": "nobody",
        "name": "Người Ngoài",
        "email": "nobody@example.test",
        "groups": ["payroll-users"],
    },
]

needs_chromium = pytest.mark.skipif(
    not os.path.exists(CHROMIUM), reason=f"{CHROMIUM} is not installed (apt-get install -y chromium)"
)


# --- the provider and the app --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def app_port() -> int:
    """The port the uvicorn-served app will listen on: the provider must know its redirect URIs at start."""
    return free_port()


@pytest.fixture(scope="module")
def callback_uri(app_port: int) -> str:
    return f"http://127.0.0.1:{app_port}/signin/oidc/callback"


@pytest.fixture(scope="module")
def provider(app_port: int, callback_uri: str) -> Iterator[Provider]:
    with start_provider(None, [callback_uri], [f"http://127.0.0.1:{app_port}/lookup"], ACCOUNTS) as running:
        yield running


def _store(tmp_path_factory: pytest.TempPathFactory, name: str) -> tuple[Engine, str]:
    url = f"sqlite:///{tmp_path_factory.mktemp(name) / 'store.db'}"
    engine = make_engine(url)
    ensure_schema(engine)
    return engine, url


def _settings(url: str, provider: Provider, audience: str | None = API_AUDIENCE) -> Settings:
    return Settings(
        database_url=url,
        secret_key="oidc-test-secret-0123456789abcdef",
        oidc_issuer=provider.issuer,
        oidc_client_id=CLIENT_ID,
        oidc_client_secret=CLIENT_SECRET,
        oidc_audience=audience,
    )


@pytest.fixture(scope="module")
def web_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    engine, _ = _store(tmp_path_factory, "oidc-web")
    yield engine
    engine.dispose()


@pytest.fixture(scope="module")
def server(web_store: Engine, provider: Provider, app_port: int) -> Iterator[str]:
    app = create_app(_settings(web_store.url.render_as_string(hide_password=False), provider), web_store)
    with serve(app, app_port) as url:
        yield url


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install -y chromium)")
    with chromium() as launched:
        yield launched


@pytest.fixture
def page(browser: Browser, request: pytest.FixtureRequest) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 390, "height": 844}, locale="vi-VN")
    context.set_default_timeout(10_000)
    pg = context.new_page()
    try:
        yield pg
    finally:
        ARTIFACTS.mkdir(exist_ok=True)
        pg.screenshot(path=str(ARTIFACTS / f"{request.node.name}.png"), full_page=True)
        context.close()


def _sso_login(page: Page, server: str, provider: Provider, login: str, next: str = "") -> None:
    """From the app's sign-in page through the provider's form; returns once the provider has been left."""
    page.goto(f"{server}/signin{next}")
    page.locator("a#signin-sso").click()
    expect(page).to_have_url(re.compile("^" + re.escape(provider.issuer) + "/"))
    page.locator("input[name=login]").fill(login)
    page.locator("input[name=password]").fill(DEFAULT_PASSWORD)
    page.locator("button#login-submit").click()
    expect(page).to_have_url(re.compile("^" + re.escape(server) + "/"))


def _shot(page: Page, name: str) -> None:
    """A screenshot of a moment inside a test (the fixture also takes one of the final page)."""
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def _sessions(engine: Engine) -> int:
    with Session(engine) as s:
        return s.scalar(select(func.count()).select_from(WebSession)) or 0


# --- 1. the browser's single sign-on -------------------------------------------------------------------------------


@pytest.mark.browser
@needs_chromium
def test_officer_signs_in_and_out_through_the_provider(
    page: Page, server: str, provider: Provider, web_store: Engine
) -> None:
    _sso_login(page, server, provider, "officer")
    # An officer has no continuity pages: the overview sends them to their center's dossiers.
    expect(page).to_have_url(f"{server}/dossiers")
    expect(page.locator(".account strong")).to_have_text("officer")
    _shot(page, "oidc_officer_signed_in")

    with Session(web_store) as s:
        user = s.scalars(select(User).where(User.username == "officer")).one()
        assert (user.role, user.center_code) == (Role.CENTER_OFFICER.value, CENTER)
        assert (user.issuer, user.subject) == (provider.issuer, "sub-officer-7f3a")
        assert user.password_hash == ""
        assert {(m.kind, m.code) for m in user.memberships} == set()
        live = s.scalars(select(WebSession).where(WebSession.user_id == user.id)).all()
        assert len(live) == 1 and live[0].method == "oidc" and live[0].ended_at is None
        assert live[0].id_token, "the ID token is kept for the sign-out at the provider"
        session_id = live[0].id

    # Sign out: here, then at the provider (its confirmation page submits itself), then back on /lookup.
    page.locator("form[action='/signout'] button[type=submit]").click()
    expect(page).to_have_url(re.compile("^" + re.escape(f"{server}/lookup") + r"(\?.*)?$"))
    expect(page.locator(".account strong")).to_have_count(0)
    _shot(page, "oidc_officer_signed_out")
    assert not [c for c in page.context.cookies() if c["name"] == SESSION_COOKIE]

    with Session(web_store) as s:
        ended = s.get(WebSession, session_id)
        assert ended is not None and ended.ended_at is not None

    page.goto(f"{server}/dossiers")
    expect(page).to_have_url(re.compile("^" + re.escape(f"{server}/signin?next=")))

    # The provider's session ended too: single sign-on asks for the password again.
    page.locator("a#signin-sso").click()
    expect(page.locator("input[name=login]")).to_be_visible()


@pytest.mark.browser
@needs_chromium
def test_account_without_a_hopnhat_role_is_refused(
    page: Page, server: str, provider: Provider, web_store: Engine
) -> None:
    before = _sessions(web_store)
    _sso_login(page, server, provider, "nobody")
    expect(page).to_have_url(re.compile("^" + re.escape(f"{server}/signin/oidc/callback")))
    alert = page.locator("p.notice.error[role=alert]")
    expect(alert).to_be_visible()
    expect(alert).to_contain_text("no hopnhat role")
    _shot(page, "oidc_no_role_refused")
    expect(page.locator(".account strong")).to_have_count(0)

    assert _sessions(web_store) == before
    assert not [c for c in page.context.cookies() if c["name"] == SESSION_COOKIE]
    with Session(web_store) as s:
        assert s.scalars(select(User).where(User.subject == "sub-nobody-04d8")).first() is None
    page.goto(f"{server}/dossiers")
    expect(page).to_have_url(re.compile("^" + re.escape(f"{server}/signin?next=")))


# --- 2. the API with the provider's access tokens -------------------------------------------------------------------


@pytest.fixture(scope="module")
def api_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Engine, str]]:
    engine, url = _store(tmp_path_factory, "oidc-api")
    yield engine, url
    engine.dispose()


def _api(api_store: tuple[Engine, str], provider: Provider, audience: str | None = API_AUDIENCE) -> TestClient:
    engine, url = api_store
    return TestClient(create_app(_settings(url, provider, audience), engine), follow_redirects=False)


@pytest.fixture(scope="module")
def operator_tokens(provider: Provider, callback_uri: str) -> dict[str, Any]:
    # The redirect to callback_uri is captured by the helper, never fetched: no app needs to listen there.
    return password_login(provider.issuer, CLIENT_ID, CLIENT_SECRET, callback_uri, "operator", DEFAULT_PASSWORD)


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _tampered(token: str) -> str:
    """The token with one character flipped in the middle of its signature (not the last: its low bits may be
    padding that decoding drops)."""
    head, payload, signature = token.split(".")
    i = len(signature) // 2
    flipped = "A" if signature[i] != "A" else "B"
    return ".".join([head, payload, signature[:i] + flipped + signature[i + 1 :]])


def test_api_accepts_the_providers_access_token(
    api_store: tuple[Engine, str], provider: Provider, operator_tokens: dict[str, Any]
) -> None:
    token = operator_tokens["access_token"]
    with _api(api_store, provider) as client:
        me = client.get("/api/v1/identity/me", headers=_bearer(token))
        assert me.status_code == 200, me.text
        body = me.json()
        assert body["username"] == "operator"
        assert body["roles"] == [Role.DEPARTMENT_OPERATOR.value]
        assert body["via"] == "oidc"
        systems = client.get("/api/v1/continuity/systems", headers=_bearer(token))
        assert systems.status_code == 200, systems.text
        assert isinstance(systems.json(), list)
        # Without the token the same API is closed.
        assert client.get("/api/v1/continuity/systems").status_code == 401

    with Session(api_store[0]) as s:
        user = s.scalars(select(User).where(User.subject == "sub-operator-91c2")).one()
        assert (user.username, user.role, user.issuer) == ("operator", Role.DEPARTMENT_OPERATOR.value, provider.issuer)


def test_api_refuses_a_tampered_access_token(
    api_store: tuple[Engine, str], provider: Provider, operator_tokens: dict[str, Any]
) -> None:
    with _api(api_store, provider) as client:
        answer = client.get("/api/v1/identity/me", headers=_bearer(_tampered(operator_tokens["access_token"])))
        assert answer.status_code == 401, answer.text


def test_api_refuses_an_access_token_for_another_audience(
    api_store: tuple[Engine, str], provider: Provider, operator_tokens: dict[str, Any]
) -> None:
    with _api(api_store, provider, audience="other") as client:
        answer = client.get("/api/v1/identity/me", headers=_bearer(operator_tokens["access_token"]))
        assert answer.status_code == 401, answer.text


def test_api_refuses_an_id_token_as_access_token(
    api_store: tuple[Engine, str], provider: Provider, operator_tokens: dict[str, Any]
) -> None:
    # With no API audience configured the client id is the audience, which is exactly the ID token's: only its
    # type (at+jwt, RFC 9068) tells an access token from an ID token.
    with _api(api_store, provider, audience=None) as client:
        answer = client.get("/api/v1/identity/me", headers=_bearer(operator_tokens["id_token"]))
        assert answer.status_code == 401, answer.text


def test_cancelled_or_foreign_callback_asks_the_token_endpoint_nothing(
    api_store: tuple[Engine, str], provider: Provider, monkeypatch: pytest.MonkeyPatch
) -> None:
    from authlib.integrations.requests_client import OAuth2Session

    def no_token_request(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("the token endpoint was called for a callback without a code")

    monkeypatch.setattr(OAuth2Session, "fetch_token", no_token_request)
    before = _sessions(api_store[0])
    with _api(api_store, provider) as client:
        start = client.get("/signin/oidc", params={"next": "/sync"})
        assert start.status_code == 303
        location = start.headers["location"]
        assert location.startswith(provider.discovery()["authorization_endpoint"] + "?")
        query = parse_qs(urlsplit(location).query)
        assert query["code_challenge_method"] == ["S256"] and query["code_challenge"] and query["nonce"]
        state = query["state"][0]

        # The user cancelled at the provider: it answers with an error and no code.
        cancelled = client.get(
            "/signin/oidc/callback", params={"error": "access_denied", "error_description": "aborted", "state": state}
        )
        assert cancelled.status_code == 400
        assert "access_denied" in cancelled.text
        assert SESSION_COOKIE not in cancelled.cookies

        # A code with a state this browser never sent (login CSRF) is never exchanged.
        client.get("/signin/oidc")
        forged = client.get("/signin/oidc/callback", params={"code": "stolen", "state": "not-mine"})
        assert forged.status_code == 400
        assert SESSION_COOKIE not in forged.cookies
    assert _sessions(api_store[0]) == before


# --- 3. the ID token's nonce --------------------------------------------------------------------------------------


def test_id_token_nonce_is_checked(provider: Provider, operator_tokens: dict[str, Any]) -> None:
    found = oidc.Provider.discover(provider.issuer)
    id_token = operator_tokens["id_token"]
    claims = found.decode(id_token, CLIENT_ID, nonce=operator_tokens["nonce"])
    assert claims["sub"] == "sub-operator-91c2"
    with pytest.raises(Unauthorized):
        found.decode(id_token, CLIENT_ID, nonce="wrong")
    with pytest.raises(Unauthorized):
        found.decode(id_token, "someone-else", nonce=operator_tokens["nonce"])
