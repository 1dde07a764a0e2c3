"""Single sign-on with the city's OpenID Connect provider (nền tảng xác thực tập trung).

Authorization code with PKCE (S256) through Authlib's client; the provider's metadata from discovery; the ID token's
signature (against the provider's published keys), issuer, audience, expiry and ``nonce`` checked with joserfc;
sign-out ends the session here and then at the provider (RP-initiated logout). The API also accepts the provider's
JWT access tokens, verified against the same keys with the audience :attr:`Settings.oidc_audience`.

Roles, centers and units come from the token's claims through a mapping (``data/oidc_mapping.yaml``, or the file
named by :attr:`Settings.oidc_role_mapping`): a group named in ``roles`` gives that role, a group starting with
``center_prefix`` or ``unit_prefix`` gives that center or unit. An account with no mapped role is refused.
"""

from __future__ import annotations

import hashlib
import logging
import re
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import httpx
import yaml
from fastapi import FastAPI
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from sqlalchemy.orm import Session

from hopnhat.config import Settings
from hopnhat.errors import Forbidden, InvalidInput, ServiceUnavailable, Unauthorized
from hopnhat.identity import repository as repo
from hopnhat.identity.models import Membership, User
from hopnhat.identity.principal import Principal
from hopnhat.identity.roles import Role

log = logging.getLogger(__name__)

ALGORITHMS = ["RS256", "ES256", "PS256"]

ACCESS_TOKEN_TYPES = frozenset({"at+jwt", "application/at+jwt"})
"""The ``typ`` of a JWT access token (RFC 9068 §4): what tells it from an ID token of the same issuer, which the API
must never accept as a bearer token (with no :attr:`Settings.oidc_audience` both carry the client id as audience)."""

ROLE_ORDER = (
    Role.ADMINISTRATOR,
    Role.DEPARTMENT_OPERATOR,
    Role.DATA_STEWARD,
    Role.AUDITOR,
    Role.CENTER_LEADER,
    Role.CENTER_OFFICER,
    Role.PROCESSING_OFFICER,
)
"""Which mapped role becomes the account's main one when the groups give several."""


@dataclass(frozen=True)
class RoleMapping:
    groups_claim: str
    roles: dict[str, Role]
    center_prefix: str
    unit_prefix: str

    @classmethod
    def load(cls, path: str | None) -> RoleMapping:
        try:
            text = (
                Path(path).read_text(encoding="utf-8")
                if path
                else resources.files("hopnhat.identity").joinpath("data/oidc_mapping.yaml").read_text("utf-8")
            )
            data = yaml.safe_load(text)
            roles = {str(group): Role(str(role)) for group, role in (data.get("roles") or {}).items()}
            return cls(
                groups_claim=str(data.get("groups_claim", "groups")),
                roles=roles,
                center_prefix=str(data.get("center_prefix", "center:")),
                unit_prefix=str(data.get("unit_prefix", "unit:")),
            )
        except (OSError, yaml.YAMLError, ValueError, AttributeError) as exc:
            raise InvalidInput(f"OpenID role mapping {path or 'bundled'}: {exc}") from None

    def apply(self, claims: dict[str, Any]) -> tuple[list[Role], list[str], list[str]]:
        """(roles in :data:`ROLE_ORDER`, centers, units) that the claims give."""
        raw = claims.get(self.groups_claim) or []
        groups = [str(g) for g in (raw if isinstance(raw, list) else [raw])][:200]
        found = {self.roles[g] for g in groups if g in self.roles}
        centers = sorted(g[len(self.center_prefix) :] for g in groups if g.startswith(self.center_prefix))
        units = sorted(g[len(self.unit_prefix) :] for g in groups if g.startswith(self.unit_prefix))
        return [r for r in ROLE_ORDER if r in found], centers, units


@dataclass
class Provider:
    """The provider's metadata and keys, fetched once per process and refreshed when an unknown key appears."""

    issuer: str
    metadata: dict[str, Any]
    keys: KeySet
    keys_fetched: float
    lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def discover(cls, issuer: str) -> Provider:
        url = issuer.rstrip("/") + "/.well-known/openid-configuration"
        try:
            metadata = httpx.get(url, timeout=10).raise_for_status().json()
            keys = KeySet.import_key_set(httpx.get(metadata["jwks_uri"], timeout=10).raise_for_status().json())
        except (httpx.HTTPError, ValueError, KeyError) as exc:
            raise ServiceUnavailable(
                f"the sign-in platform at {issuer} cannot be reached: {type(exc).__name__}"
            ) from None
        if metadata.get("issuer") != issuer:
            raise ServiceUnavailable(
                f"the sign-in platform says its issuer is {metadata.get('issuer')!r}, not {issuer!r}"
            )
        return cls(issuer, metadata, keys, time.monotonic())

    def refresh_keys(self) -> None:
        with self.lock:
            if time.monotonic() - self.keys_fetched < 60:
                return  # at most once a minute: a forged kid must not make us hammer the provider
            try:
                data = httpx.get(self.metadata["jwks_uri"], timeout=10).raise_for_status().json()
            except (httpx.HTTPError, ValueError):
                return
            self.keys = KeySet.import_key_set(data)
            self.keys_fetched = time.monotonic()

    def decode(
        self, token: str, audience: str, nonce: str | None = None, types: frozenset[str] | None = None
    ) -> dict[str, Any]:
        """Verified claims of a JWT issued by this provider for ``audience``; Unauthorized otherwise.

        ``types``: the header ``typ`` values accepted (case-insensitive), e.g. :data:`ACCESS_TOKEN_TYPES`; None: any."""
        if len(token) > 16_000:
            raise Unauthorized("token too large")
        for attempt in range(2):
            try:
                decoded = jwt.decode(token, self.keys, algorithms=ALGORITHMS)
                break
            except JoseError as exc:
                if attempt == 0 and "key" in type(exc).__name__.lower():
                    self.refresh_keys()
                    continue
                raise Unauthorized(f"token refused: {type(exc).__name__}") from None
            except ValueError:
                raise Unauthorized("token refused: not a JWT") from None
        if types is not None and str(decoded.header.get("typ", "")).lower() not in types:
            raise Unauthorized("token refused: wrong token type")
        options: dict[str, Any] = {
            "iss": {"essential": True, "value": self.issuer},
            "aud": {"essential": True, "value": audience},
            "exp": {"essential": True},
            "sub": {"essential": True},
        }
        if nonce is not None:
            options["nonce"] = {"essential": True, "value": nonce}
        try:
            jwt.JWTClaimsRegistry(leeway=30, **options).validate(decoded.claims)
        except JoseError as exc:
            raise Unauthorized(f"token refused: {type(exc).__name__}") from None
        return dict(decoded.claims)


def provider(app: FastAPI) -> Provider:
    settings: Settings = app.state.settings
    if not settings.oidc_issuer:
        raise Unauthorized("single sign-on is not configured (HOPNHAT_OIDC_ISSUER)")
    found = getattr(app.state, "oidc_provider", None)
    if found is None:
        found = Provider.discover(settings.oidc_issuer)
        app.state.oidc_provider = found
    assert isinstance(found, Provider)
    return found


def mapping(app: FastAPI) -> RoleMapping:
    found = getattr(app.state, "oidc_mapping", None)
    if found is None:
        settings: Settings = app.state.settings
        found = RoleMapping.load(settings.oidc_role_mapping)
        app.state.oidc_mapping = found
    assert isinstance(found, RoleMapping)
    return found


def account_for_claims(session: Session, issuer: str, claims: dict[str, Any], rules: RoleMapping) -> User:
    """The local record of a provider's account, created or brought up to date from its claims (roles, centers
    and units are the provider's word at every sign-in). A disabled account stays disabled."""
    subject = str(claims["sub"])[:255]
    roles, centers, units = rules.apply(claims)
    user = repo.user_by_subject(session, issuer, subject)
    if user is not None and not user.active:
        raise Forbidden("this account is disabled in hopnhat")
    if not roles:
        raise Forbidden("the sign-in platform gives this account no hopnhat role; ask the administrator")
    if user is None:
        user = User(
            username=_username(session, issuer, subject, claims.get("preferred_username")),
            password_hash="",
            issuer=issuer,
            subject=subject,
            role=roles[0].value,
        )
        session.add(user)
    user.role = roles[0].value
    user.center_code = centers[0] if centers else None
    wanted_members = {("role", r.value) for r in roles[1:]} | {("center", c) for c in centers[1:]}
    wanted_members |= {("unit", u) for u in units}
    have = {(m.kind, m.code): m for m in user.memberships}
    for key, member in have.items():
        if key not in wanted_members:
            user.memberships.remove(member)
    for kind, code in sorted(wanted_members - set(have)):
        user.memberships.append(Membership(kind=kind, code=code[:64]))
    session.flush()
    return user


_USERNAME = re.compile(r"[A-Za-z0-9._@-]{1,64}")


def _username(session: Session, issuer: str, subject: str, preferred: object) -> str:
    """The provider's ``preferred_username`` when it is a valid name nobody here has; otherwise a name derived
    from the subject. Never a link to an existing account by name (that would let the provider's users take over
    local accounts), and never a name the CLI uses for OS users (``os:...``)."""
    wanted = str(preferred or "")
    if _USERNAME.fullmatch(wanted) and repo.user_by_name(session, wanted) is None:
        return wanted
    return "sso-" + hashlib.sha256(f"{issuer}|{subject}".encode()).hexdigest()[:16]


def principal_for_access_token(app: FastAPI, session: Session, token: str) -> Principal | None:
    """The principal of a provider's JWT access token, or None when single sign-on is not configured."""
    from hopnhat.identity.service import principal_for

    settings: Settings = app.state.settings
    if not settings.oidc_issuer:
        return None
    found = provider(app)
    claims = found.decode(token, settings.oidc_audience or settings.oidc_client_id or "", types=ACCESS_TOKEN_TYPES)
    user = account_for_claims(session, found.issuer, claims, mapping(app))
    return principal_for(user, "oidc")


# --- the browser's sign-in ----------------------------------------------------------------------------------------


def authorization_url(app: FastAPI, redirect_uri: str) -> tuple[str, dict[str, str]]:
    """Where to send the browser, and what to remember until it comes back (state, nonce, PKCE verifier)."""
    from authlib.common.security import generate_token
    from authlib.integrations.requests_client import OAuth2Session

    settings: Settings = app.state.settings
    meta = provider(app).metadata
    verifier = generate_token(64)
    nonce = generate_token(32)
    client = OAuth2Session(settings.oidc_client_id, scope=settings.oidc_scopes, redirect_uri=redirect_uri)
    client.code_challenge_method = "S256"
    url, state = client.create_authorization_url(meta["authorization_endpoint"], code_verifier=verifier, nonce=nonce)
    return url, {"state": state, "nonce": nonce, "verifier": verifier}


def complete(
    app: FastAPI, session: Session, redirect_uri: str, callback_url: str, pending: dict[str, str]
) -> tuple[User, str]:
    """Exchange the code, verify the ID token and return the account with the raw ID token (kept for sign-out)."""
    from authlib.integrations.base_client.errors import OAuthError
    from authlib.integrations.requests_client import OAuth2Session

    settings: Settings = app.state.settings
    query = dict(parse_qsl(urlsplit(callback_url).query))
    if query.get("state") != pending["state"]:
        raise InvalidInput("the sign-in expired or did not start here; sign in again")
    # An error answer (the user cancelled, the platform refused) has no code: ask the token endpoint nothing, or
    # Authlib would guess a client_credentials grant and send it with our secret.
    if "error" in query:
        raise Unauthorized(f"the sign-in platform refused the sign-in: {query['error'][:100]}")
    code = query.get("code")
    if not code:
        raise InvalidInput("the sign-in platform sent no authorization code; sign in again")
    found = provider(app)
    client = OAuth2Session(
        settings.oidc_client_id,
        settings.oidc_client_secret,
        scope=settings.oidc_scopes,
        redirect_uri=redirect_uri,
        state=pending["state"],
    )
    try:
        token = client.fetch_token(
            found.metadata["token_endpoint"],
            grant_type="authorization_code",
            code=code,
            code_verifier=pending["verifier"],
            timeout=10,
        )
    except OAuthError as exc:
        raise Unauthorized(f"the sign-in platform refused the sign-in: {exc.error}") from None
    except Exception as exc:
        raise ServiceUnavailable(f"the sign-in platform's token endpoint failed: {type(exc).__name__}") from None
    id_token = str(token.get("id_token") or "")
    if not id_token:
        raise Unauthorized("the sign-in platform sent no ID token")
    claims = found.decode(id_token, settings.oidc_client_id or "", nonce=pending["nonce"])
    user = account_for_claims(session, found.issuer, claims, mapping(app))
    return user, id_token


def end_session_url(app: FastAPI, id_token: str | None, post_logout_redirect_uri: str) -> str | None:
    """The provider's sign-out address for this session, or None when it has none."""
    settings: Settings = app.state.settings
    endpoint = provider(app).metadata.get("end_session_endpoint")
    if not endpoint:
        return None
    query = {"post_logout_redirect_uri": post_logout_redirect_uri, "client_id": settings.oidc_client_id or ""}
    if id_token:
        query["id_token_hint"] = id_token
    return f"{endpoint}?{urlencode(query)}"


def now() -> datetime:
    return datetime.now(UTC)


__all__ = [
    "Provider",
    "RoleMapping",
    "account_for_claims",
    "authorization_url",
    "complete",
    "end_session_url",
    "mapping",
    "principal_for_access_token",
    "provider",
]
