"""Signing in and out: the local form (with its pre-sign-in CSRF token and throttling) and single sign-on."""

from __future__ import annotations

import base64
import binascii
import contextlib
import dataclasses
import hashlib
import hmac
import json
import logging
import time
from typing import Annotated

from fastapi import Form, Request
from fastapi.responses import RedirectResponse, Response

from hopnhat.deps import SessionDep
from hopnhat.errors import HopnhatError, InvalidInput
from hopnhat.identity import audit
from hopnhat.identity import repository as identity_repo
from hopnhat.identity import service as identity
from hopnhat.identity.http import SESSION_COOKIE, client_address, secure_cookies
from hopnhat.identity.principal import Principal
from hopnhat.identity.roles import Permission
from hopnhat.web import auth
from hopnhat.web.common import NAV, PageForbidden, PublicUser, check_form, render, secret_of, settings_of

log = logging.getLogger(__name__)


def signin_form(request: Request, user: PublicUser, next: str = "/") -> Response:
    return _signin_page(request, next)


def _signin_page(
    request: Request,
    next: str,
    status_code: int = 200,
    failed: bool = False,
    wait: int | None = None,
    sso_error: str | None = None,
) -> Response:
    value = auth.new_presignin()
    response = render(
        request,
        "signin.html",
        None,
        "signin",
        status_code=status_code,
        next=_safe_next(next),
        failed=failed,
        wait=wait,
        sso_error=sso_error,
        signin_csrf=auth.presignin_token(secret_of(request), value),
    )
    response.set_cookie(
        auth.PRESIGNIN_COOKIE, value, max_age=3600, httponly=True, samesite="lax", secure=secure_cookies(request)
    )
    return response


def _safe_next(target: str) -> str:
    # Only paths on this site: a crafted ?next= must not send a signed-in user to another host.
    target = target[:2000]
    return target if target.startswith("/") and not target.startswith("//") and "\\" not in target else "/"


def _landing(principal: Principal, target: str) -> str:
    """Where a sign-in without a ``next`` lands: the overview, else the first page of the menu the account may
    open (an auditor lands on the audit log, not on a page it may not open)."""
    if target != "/" or principal.can(Permission.CONTINUITY_READ):
        return target
    if principal.can(Permission.DOSSIER_READ):
        return "/dossiers"
    return next((href for key, href in NAV if key != "lookup" and auth.may_open(principal, key)), "/lookup")


def _session_cookie(request: Request, response: Response, token: str) -> None:
    settings = settings_of(request)
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=int(settings.session_absolute_hours * 3600),
        httponly=True,
        samesite="lax",
        secure=secure_cookies(request),
    )
    response.delete_cookie(auth.PRESIGNIN_COOKIE)


def signin(
    request: Request,
    session: SessionDep,
    user: PublicUser,
    username: Annotated[str, Form(max_length=200)],
    password: Annotated[str, Form(max_length=1000)],
    next: Annotated[str, Form(max_length=2000)] = "/",
    csrf: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    if not auth.presignin_ok(secret_of(request), request.cookies.get(auth.PRESIGNIN_COOKIE), csrf):
        raise PageForbidden("csrf")
    address = client_address(request)
    try:
        account = identity.authenticate(session, username, password, address)
    except identity.SigninThrottled as exc:
        _audit_failed_signin(session, username, address, "signin.throttled")
        return _signin_page(request, next, status_code=429, wait=exc.retry_after)
    except HopnhatError:
        _audit_failed_signin(session, username, address, "signin.failed")
        return _signin_page(request, next, status_code=401, failed=True)
    started = identity.start_session(session, account, settings_of(request))
    principal = dataclasses.replace(identity.principal_for(account, "session"), client=address)
    audit.record(session, principal, "signin", object_type="account", object_id=account.username)
    response = RedirectResponse(_landing(principal, _safe_next(next)), status_code=303)
    _session_cookie(request, response, started.token)
    return response


def _audit_failed_signin(session: SessionDep, typed: str, address: str, action: str) -> None:
    """Failed sign-ins go to the audit log, never to the plain log: people type passwords into the username field,
    so the typed name is kept only when it is an account's."""
    known = identity_repo.user_by_name(session, typed.strip()[:64]) is not None
    audit.record(
        session, None, action, object_type="account", object_id=typed.strip()[:64] if known else None, client=address
    )


def signout(
    request: Request,
    session: SessionDep,
    user: PublicUser,
    csrf: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    """End the session here, and at the provider when it came from there."""
    if user is not None:
        check_form(user, csrf)
    ended = identity.end_session(session, request.cookies.get(SESSION_COOKIE))
    if user is not None and ended is not None:
        audit.record(session, user, "signout", object_type="account", object_id=user.username)
    target = "/lookup?signed_out=1" if user is not None else "/lookup"
    if ended is not None and ended.method == "oidc" and settings_of(request).oidc_issuer:
        from hopnhat.identity import oidc

        # The provider down: this session is over here anyway.
        with contextlib.suppress(HopnhatError):
            target = oidc.end_session_url(request.app, ended.id_token, str(request.url_for("lookup"))) or target
    response = RedirectResponse(target, status_code=303)
    response.delete_cookie(SESSION_COOKIE)
    return response


OIDC_COOKIE = "hopnhat_oidc"


def signin_oidc(request: Request, user: PublicUser, next: str = "/") -> Response:
    """Start single sign-on: to the provider with state, nonce and a PKCE challenge, remembered in a signed cookie."""
    from hopnhat.identity import oidc

    if not settings_of(request).oidc_issuer:
        return RedirectResponse("/signin", status_code=303)  # no single sign-on here: the local form
    redirect_uri = str(request.url_for("signin_oidc_callback"))
    try:
        url, pending = oidc.authorization_url(request.app, redirect_uri)
    except HopnhatError as exc:
        return _sso_failed(request, exc)
    pending["next"] = _safe_next(next)
    response = RedirectResponse(url, status_code=303)
    response.set_cookie(
        OIDC_COOKIE,
        _sign_pending(secret_of(request), pending),
        max_age=600,
        httponly=True,
        samesite="lax",
        secure=secure_cookies(request),
    )
    return response


def signin_oidc_callback(request: Request, session: SessionDep, user: PublicUser) -> Response:
    from hopnhat.identity import oidc

    pending = _read_pending(secret_of(request), request.cookies.get(OIDC_COOKIE))
    if pending is None or request.query_params.get("state") != pending.get("state"):
        # Expired, replayed, or started elsewhere (login CSRF): never exchange a code we did not ask for.
        return _sso_failed(request, InvalidInput("the sign-in expired or did not start here; sign in again"))
    redirect_uri = str(request.url_for("signin_oidc_callback"))
    try:
        account, id_token = oidc.complete(request.app, session, redirect_uri, str(request.url), pending)
    except HopnhatError as exc:
        session.rollback()
        return _sso_failed(request, exc)
    started = identity.start_session(session, account, settings_of(request), method="oidc", id_token=id_token)
    principal = dataclasses.replace(identity.principal_for(account, "session"), client=client_address(request))
    audit.record(session, principal, "signin.oidc", object_type="account", object_id=account.username)
    response = RedirectResponse(_landing(principal, pending.get("next", "/")), status_code=303)
    _session_cookie(request, response, started.token)
    response.delete_cookie(OIDC_COOKIE)
    return response


def _sso_failed(request: Request, exc: HopnhatError) -> Response:
    log.info("single sign-on refused: %s", type(exc).__name__)
    status = 400 if exc.status_code < 500 else 503
    response = _signin_page(request, "/", status_code=status, failed=True, sso_error=exc.detail)
    response.delete_cookie(OIDC_COOKIE)
    return response


def _sign_pending(secret: str, pending: dict[str, str]) -> str:
    body = base64.urlsafe_b64encode(json.dumps({**pending, "t": int(time.time())}).encode()).decode()
    mac = hmac.new(secret.encode(), f"oidc:{body}".encode(), hashlib.sha256).hexdigest()
    return f"{body}.{mac}"


def _read_pending(secret: str, value: str | None) -> dict[str, str] | None:
    if not value or len(value) > 4000 or "." not in value:
        return None
    body, mac = value.rsplit(".", 1)
    expected = hmac.new(secret.encode(), f"oidc:{body}".encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(mac, expected):
        return None
    try:
        data = json.loads(base64.urlsafe_b64decode(body))
    except (ValueError, binascii.Error):
        return None
    if not isinstance(data, dict) or time.time() - int(data.get("t", 0)) > 600:
        return None
    return {str(k): str(v) for k, v in data.items()}


__all__ = ["OIDC_COOKIE", "signin", "signin_form", "signin_oidc", "signin_oidc_callback", "signout"]
