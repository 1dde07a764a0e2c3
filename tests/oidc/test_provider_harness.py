"""The test OpenID provider (tests/oidc/provider.mjs) starts, logs a user in through its form, and issues the tokens the
API and the web app rely on."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import KeySet

from tests.oidc_support import (
    API_AUDIENCE,
    CLIENT_ID,
    CLIENT_SECRET,
    LoginRefused,
    Provider,
    end_session,
    password_login,
    provider_available,
    start_provider,
)

REDIRECT_URI = "http://127.0.0.1:9/auth/callback"
POST_LOGOUT_URI = "http://127.0.0.1:9/"
ACCOUNTS: list[dict[str, Any]] = [
    {
        "sub": "u-alice",
        "preferred_username": "alice",
        "name": "Alice Nguyễn",
        "email": "alice@example.test",
        "groups": ["hopnhat-admins", "center-a"],
    },
    {
        "sub": "u-bob",
        "preferred_username": "bob",
        "name": "Bob Trần",
        "email": "bob@example.test",
        "groups": [],
        "password": "bob-pass",
    },
]


@pytest.fixture(scope="module")
def provider() -> Iterator[Provider]:
    reason = provider_available()
    if reason:
        pytest.skip(reason)
    with start_provider(None, [REDIRECT_URI], [POST_LOGOUT_URI], ACCOUNTS) as running:
        yield running


def _keys(provider: Provider) -> KeySet:
    jwks = httpx.get(provider.discovery()["jwks_uri"], timeout=5.0)
    jwks.raise_for_status()
    return KeySet.import_key_set(jwks.json())


def test_discovery(provider: Provider) -> None:
    config = provider.discovery()
    assert config["issuer"] == provider.issuer
    assert config["jwks_uri"].startswith(provider.issuer)
    assert config["end_session_endpoint"].startswith(provider.issuer)
    assert "S256" in config["code_challenge_methods_supported"]
    assert {"openid", "profile", "email", "groups"} <= set(config["scopes_supported"])
    assert {"client_secret_basic", "client_secret_post"} <= set(config["token_endpoint_auth_methods_supported"])


@pytest.mark.parametrize("auth_method", ["client_secret_basic", "client_secret_post"])
def test_password_login_issues_jwt_access_token_and_full_id_token(provider: Provider, auth_method: str) -> None:
    tokens = password_login(
        provider.issuer, CLIENT_ID, CLIENT_SECRET, REDIRECT_URI, "alice", "secret", auth_method=auth_method
    )
    keys = _keys(provider)
    now = int(time.time())

    access = jwt.decode(tokens["access_token"], keys, algorithms=["RS256"])
    assert access.header["typ"] == "at+jwt"
    jwt.JWTClaimsRegistry(
        iss={"essential": True, "value": provider.issuer},
        aud={"essential": True, "value": API_AUDIENCE},
        exp={"essential": True},
        sub={"essential": True, "value": "u-alice"},
    ).validate(access.claims)
    assert access.claims["exp"] > now
    assert access.claims["client_id"] == CLIENT_ID
    assert access.claims["preferred_username"] == "alice"
    assert access.claims["groups"] == ["hopnhat-admins", "center-a"]

    id_token = jwt.decode(tokens["id_token"], keys, algorithms=["RS256"])
    jwt.JWTClaimsRegistry(
        iss={"essential": True, "value": provider.issuer},
        aud={"essential": True, "value": CLIENT_ID},
        exp={"essential": True},
        nonce={"essential": True, "value": tokens["nonce"]},
    ).validate(id_token.claims)
    assert id_token.claims["sub"] == "u-alice"
    assert id_token.claims["preferred_username"] == "alice"
    assert id_token.claims["name"] == "Alice Nguyễn"
    assert id_token.claims["email"] == "alice@example.test"
    assert id_token.claims["groups"] == ["hopnhat-admins", "center-a"]
    assert tokens["token_type"].lower() == "bearer"


def test_login_by_email_with_own_password_and_empty_groups(provider: Provider) -> None:
    tokens = password_login(provider.issuer, CLIENT_ID, CLIENT_SECRET, REDIRECT_URI, "bob@example.test", "bob-pass")
    claims = jwt.decode(tokens["id_token"], _keys(provider), algorithms=["RS256"]).claims
    assert claims["preferred_username"] == "bob"
    assert claims["groups"] == []


@pytest.mark.parametrize(("login", "password"), [("alice", "wrong"), ("bob", "secret"), ("nobody", "secret")])
def test_wrong_password_gives_no_code(provider: Provider, login: str, password: str) -> None:
    with pytest.raises(LoginRefused) as refused:
        password_login(provider.issuer, CLIENT_ID, CLIENT_SECRET, REDIRECT_URI, login, password)
    assert refused.value.status_code == 401
    assert 'id="login-error"' in refused.value.body


def test_wrong_client_secret_is_refused(provider: Provider) -> None:
    with pytest.raises(RuntimeError, match="invalid_client"):
        password_login(provider.issuer, CLIENT_ID, "not-the-secret", REDIRECT_URI, "alice", "secret")


def test_session_is_reused_then_ended_by_rp_initiated_logout(provider: Provider) -> None:
    with httpx.Client(timeout=10.0, follow_redirects=False) as browser:
        first = password_login(
            provider.issuer, CLIENT_ID, CLIENT_SECRET, REDIRECT_URI, "alice", "secret", client=browser
        )
        # Single sign-on: the provider session answers at once, whatever password is given now.
        again = password_login(
            provider.issuer, CLIENT_ID, CLIENT_SECRET, REDIRECT_URI, "alice", "ignored", client=browser
        )
        assert again["access_token"] != first["access_token"]

        landing = end_session(browser, provider.issuer, first["id_token"], POST_LOGOUT_URI, state="bye-1")
        assert landing == f"{POST_LOGOUT_URI}?state=bye-1"

        with pytest.raises(LoginRefused):  # the session is gone: the form is back and checks the password
            password_login(provider.issuer, CLIENT_ID, CLIENT_SECRET, REDIRECT_URI, "alice", "ignored", client=browser)


def test_unregistered_post_logout_redirect_uri_is_refused(provider: Provider) -> None:
    with httpx.Client(timeout=10.0, follow_redirects=False) as browser:
        tokens = password_login(
            provider.issuer, CLIENT_ID, CLIENT_SECRET, REDIRECT_URI, "alice", "secret", client=browser
        )
        with pytest.raises(RuntimeError, match="400"):
            end_session(browser, provider.issuer, tokens["id_token"], "http://127.0.0.1:9/elsewhere")
