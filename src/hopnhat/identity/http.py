"""The principal of an HTTP request, and the one dependency every route declares: :func:`rule`.

A request is one of: a machine token (``Authorization: Bearer hnt_...``), an access token of the city's OpenID
provider (``Authorization: Bearer <JWT>``), a browser's session cookie, or nobody. Identity never comes from a field
the caller fills in. ``tests/identity/test_routes.py`` fails on any route of the app without a rule.
"""

from __future__ import annotations

import dataclasses
import hmac
import ipaddress
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from hopnhat.config import Settings
from hopnhat.deps import SessionDep
from hopnhat.errors import Forbidden, RateLimited, Unauthorized
from hopnhat.identity import service
from hopnhat.identity.limits import SharedLimiter
from hopnhat.identity.principal import ANONYMOUS, Principal
from hopnhat.identity.roles import Permission

SESSION_COOKIE = "hopnhat_session"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(text: str) -> tuple[Network, ...]:
    from hopnhat.errors import InvalidInput

    out: list[Network] = []
    for part in text.replace(" ", ",").split(","):
        if not part:
            continue
        try:
            out.append(ipaddress.ip_network(part, strict=False))
        except ValueError:
            raise InvalidInput(f"network {part!r} is not an address or CIDR network") from None
    return tuple(out)


def _trusted(request: Request) -> tuple[Network, ...]:
    cached = getattr(request.app.state, "trusted_proxies", None)
    if cached is None:
        settings: Settings = request.app.state.settings
        cached = parse_networks(settings.trusted_proxies)
        request.app.state.trusted_proxies = cached
    assert isinstance(cached, tuple)
    return cached


def _in(address: str, networks: tuple[Network, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in n for n in networks)


def client_address(request: Request) -> str:
    """The client's address: the peer's, unless the peer is a trusted proxy; then the nearest address in
    ``X-Forwarded-For`` that is not itself a trusted proxy (a client can prepend anything, never append)."""
    peer = request.client.host if request.client else "unknown"
    trusted = _trusted(request)
    if not trusted or not _in(peer, trusted):
        return peer
    # Every X-Forwarded-For line, in order: a proxy may add its own line instead of appending to the client's.
    hops = [h.strip() for line in request.headers.getlist("x-forwarded-for") for h in line.split(",") if h.strip()]
    for hop in reversed(hops):
        if not _in(hop, trusted):
            return hop[:64]
    return peer


def is_https(request: Request) -> bool:
    if request.url.scheme == "https":
        return True
    peer = request.client.host if request.client else ""
    protos = [p.strip().lower() for line in request.headers.getlist("x-forwarded-proto") for p in line.split(",")]
    return _in(peer, _trusted(request)) and bool(protos) and protos[-1] == "https"


def secure_cookies(request: Request) -> bool:
    settings: Settings = request.app.state.settings
    return settings.cookie_secure if settings.cookie_secure is not None else is_https(request)


def limiter(request: Request) -> SharedLimiter:
    found = getattr(request.app.state, "limiter", None)
    if found is None:
        found = SharedLimiter(request.app.state.engine)
        request.app.state.limiter = found
    assert isinstance(found, SharedLimiter)
    return found


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


def resolve_principal(request: Request, session: Session) -> Principal:
    """Who is asking; cached on the request so a page and its rule read the store once."""
    cached = getattr(request.state, "principal", None)
    if isinstance(cached, Principal):
        return cached
    settings: Settings = request.app.state.settings
    principal = ANONYMOUS
    token = _bearer(request)
    if token is not None:
        if token.startswith(service.TOKEN_PREFIX):
            found = service.principal_for_token(session, token)
        else:
            from hopnhat.identity import oidc

            found = oidc.principal_for_access_token(request.app, session, token)
        if found is None:
            raise Unauthorized("the bearer token is unknown, expired or revoked")
        principal = found
    else:
        live = service.read_session(session, request.cookies.get(SESSION_COOKIE), settings)
        if live is not None:
            row, user = live
            principal = service.principal_for(user, "session", csrf=row.csrf)
    principal = dataclasses.replace(principal, client=client_address(request))
    request.state.principal = principal
    return principal


def current_principal(request: Request, session: SessionDep) -> Principal:
    return resolve_principal(request, session)


PrincipalDep = Annotated[Principal, Depends(current_principal)]


def check_csrf(principal: Principal, supplied: str | None) -> None:
    """A cookie-authenticated change must echo its session's CSRF value (another site cannot read it)."""
    if principal.via != "session":
        return
    expected = principal.session_csrf or ""
    if not supplied or not hmac.compare_digest(supplied, expected):
        raise Forbidden("missing or wrong CSRF token (X-CSRF-Token header, or the form's csrf field)")


def rule(permission: Permission, *, limited: bool = True) -> Callable[..., Principal]:
    """The dependency of a route: the principal, once it may do ``permission``.

    Also: a cookie-authenticated API change must carry the CSRF header; a signed-in principal's calls are limited
    per account, an anonymous caller's per address (``limited=False`` for routes with their own limit)."""

    def dependency(request: Request, principal: PrincipalDep) -> Principal:
        principal.require(permission)
        if request.method not in SAFE_METHODS and request.url.path.startswith("/api/"):
            check_csrf(principal, request.headers.get(CSRF_HEADER))
        if limited:
            settings: Settings = request.app.state.settings
            key = f"acct:{principal.username}" if principal.username else f"addr:{client_address(request)}"
            if not limiter(request).allow(key, settings.officer_rate_limit_per_minute):
                raise RateLimited("too many requests; try again in a minute")
        return principal

    dependency.__hopnhat_rule__ = permission  # type: ignore[attr-defined]
    dependency.__name__ = f"rule_{permission.value.replace('.', '_')}"
    return dependency


async def public_async() -> None:
    """The rule of a public route that counts its own allowance on the event loop (the lookup): nobody needs to be
    resolved, so no thread-pool hop and no store access before the lookup itself."""


public_async.__hopnhat_rule__ = Permission.PUBLIC  # type: ignore[attr-defined]


def rule_of(dependency: Any) -> Permission | None:
    """The permission a dependency built by :func:`rule` enforces (for the route enumeration test)."""
    found = getattr(dependency, "__hopnhat_rule__", None)
    return found if isinstance(found, Permission) else None


__all__ = [
    "CSRF_HEADER",
    "SESSION_COOKIE",
    "PrincipalDep",
    "check_csrf",
    "client_address",
    "current_principal",
    "is_https",
    "limiter",
    "parse_networks",
    "public_async",
    "resolve_principal",
    "rule",
    "rule_of",
    "secure_cookies",
]
