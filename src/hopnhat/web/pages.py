"""The web pages: ``mount(app)`` adds the page routes and ``/static``.

Pages call the same service functions as the API (never HTTP to itself). A request owns its transaction through
:data:`hopnhat.deps.SessionDep`. Pages with personal data or that change anything need sign-in (see
:data:`hopnhat.web.auth.PAGE_ROLES`); forms that change something carry a CSRF token bound to the session.
"""

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
import unicodedata
from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote, urlencode

from fastapi import Depends, FastAPI, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from hopnhat.config import VN_TZ, Settings
from hopnhat.deps import SessionDep
from hopnhat.errors import HopnhatError, InvalidInput, Unauthorized
from hopnhat.i18n import LANGS, TEXTS, pick_lang, translate, translate_reason
from hopnhat.identity import audit
from hopnhat.identity import repository as identity_repo
from hopnhat.identity import service as identity
from hopnhat.identity.http import (
    SAFE_METHODS,
    SESSION_COOKIE,
    check_csrf,
    client_address,
    limiter,
    resolve_principal,
    secure_cookies,
)
from hopnhat.identity.principal import Principal
from hopnhat.identity.roles import Permission, Scope, expand_scopes
from hopnhat.settlement.endpoints import lookup_key
from hopnhat.web import auth, charts, sources

log = logging.getLogger(__name__)

HERE = Path(__file__).parent
templates = Jinja2Templates(directory=HERE / "templates")

NAV = (
    ("overview", "/"),
    ("lookup", "/lookup"),
    ("registry", "/registry"),
    ("convert", "/convert"),
    ("sync", "/sync"),
    ("steward", "/steward"),
    ("officer", "/officer"),
    ("intake", "/officer/intake"),
    ("dossiers", "/dossiers"),
    ("systems", "/systems"),
    ("plan", "/plan"),
    ("centers", "/centers"),
    ("audit", "/audit"),
    ("calendar", "/calendar"),
    ("due_decisions", "/calendar/decisions"),
    ("portal", "/portal"),
    ("report766", "/reports/766"),
)
_NAV_PAGE = {"convert": "registry"}
"""Nav entries guarded by another page's roles."""


class _NeedSignIn(Exception):
    pass


class _PageForbidden(Exception):
    pass


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def _secret(request: Request) -> str:
    key: str = request.app.state.secret_key
    return key


def current_user(request: Request, session: SessionDep) -> Principal | None:
    """The signed-in principal, or None; a page never fails on a stale or forged cookie, it just is not signed in."""
    try:
        principal = resolve_principal(request, session)
    except Unauthorized:
        return None
    return None if principal.anonymous else principal


UserDep = Annotated[Principal | None, Depends(current_user)]


def public_page(request: Request, user: UserDep) -> Principal | None:
    """The rule of a page anyone may open (the lookup, sign-in): the principal if there is one."""
    return user


public_page.__hopnhat_rule__ = Permission.PUBLIC  # type: ignore[attr-defined]
PublicUser = Annotated[Principal | None, Depends(public_page)]


def guard(page: str) -> Callable[[Request, Principal | None], Principal]:
    """Dependency: the signed-in principal allowed on ``page``; else a redirect to sign-in or a 403 page."""
    permission = auth.PAGE_PERMISSIONS[page]

    def dependency(request: Request, user: UserDep) -> Principal:
        if user is None:
            raise _NeedSignIn(request.url.path + (f"?{request.url.query}" if request.url.query else ""))
        if not user.can(permission):
            raise _PageForbidden(page)
        if (
            request.method not in SAFE_METHODS
            and user.scopes is not None
            and Scope.WRITE not in expand_scopes(user.scopes)
        ):
            raise _PageForbidden(page)  # a form that changes something needs a token that may write
        return user

    dependency.__hopnhat_rule__ = permission  # type: ignore[attr-defined]
    return dependency


def _lang(request: Request) -> str:
    return pick_lang(request.query_params.get("lang"), request.cookies.get("lang"))


def _fmt(value: Any) -> str:
    """Datetimes in Vietnam time (stored UTC), booleans and empties readable; everything else as text."""
    if value is None:
        return "—"
    if isinstance(value, datetime):
        return value.astimezone(VN_TZ).strftime("%d/%m/%Y %H:%M") if value.tzinfo else value.strftime("%d/%m/%Y %H:%M")
    if isinstance(value, date):
        return value.strftime("%d/%m/%Y")
    if isinstance(value, float):
        return f"{value:.2f}".rstrip("0").rstrip(".")
    if isinstance(value, list | tuple):
        return ", ".join(_fmt(v) for v in value)
    return str(value)


_GOOD = frozenset({"up", "ok", "pass", "passed", "ready", "done", "true", "go", "closed", "succeeded", "completed"})
_BAD = frozenset(
    {"down", "fail", "failed", "blocked", "no-go", "no_go", "overdue", "false", "open", "dead", "not_ready", "error"}
)


_PROBLEM_FLAGS = frozenset({"overdue", "at_risk", "needs_review", "cutover_blocked"})
"""Yes/no columns where yes is the problem: their "no" is not a failure, so it gets no red."""


def _tone(value: Any, column: str = "") -> str:
    """CSS class of a status cell: red for down/failed/overdue, green for up/ready; colour is never the only cue."""
    if column in _PROBLEM_FLAGS and isinstance(value, bool):
        return "bad" if value else ""
    text = str(value).lower() if value is not None else ""
    if text in _GOOD:
        return "good"
    if text in _BAD:
        return "bad"
    return ""


_TRANSLATED_STATES = ("up", "down", "ready", "not_ready", "overdue", "unknown")


_REASON_COLUMNS = frozenset({"reasons", "reason", "detail"})
"""Columns whose text the services write in English as fixed phrases (see :data:`hopnhat.i18n.REASONS`)."""


def _cell_text(value: Any, lang: str, column: str = "") -> str:
    """A table cell's text: the known values of the parts' enumerations in the page's language, reasons translated
    phrase by phrase, the rest as is."""
    if column in _REASON_COLUMNS and value:
        parts = value if isinstance(value, list | tuple) else [value]
        return "; ".join(translate_reason(str(p), lang) for p in parts)
    text = _fmt(value)
    key = text.lower()
    if key in _TRANSLATED_STATES:
        return translate(key, lang)
    if f"v_{key}" in TEXTS:
        return translate(f"v_{key}", lang)
    return text


def render(
    request: Request, name: str, user: Principal | None, page: str, status_code: int = 200, **context: Any
) -> Response:
    lang = _lang(request)
    settings = _settings(request)
    nav = [
        (key, href)
        for key, href in NAV
        if auth.may_open(user, _NAV_PAGE.get(key, key)) and (user is not None or key == "lookup")
    ]
    query = {k: v for k, v in request.query_params.items() if k != "lang"}
    other = "en" if lang == "vi" else "vi"
    response = templates.TemplateResponse(
        request,
        name,
        {
            "lang": lang,
            "t": lambda key: translate(key, lang),
            "fmt": _fmt,
            "cell_text": lambda value, column="": _cell_text(value, lang, column),
            "tone": _tone,
            "user": user,
            "page": page,
            "nav": nav,
            "csrf": (user.session_csrf or "") if user else "",
            "sso": bool(settings.oidc_issuer),
            "lang_url": f"{request.url.path}?{urlencode({**query, 'lang': other})}",
            "other_lang": other,
            **context,
        },
        status_code=status_code,
    )
    if request.query_params.get("lang") in LANGS:
        response.set_cookie("lang", lang, max_age=365 * 86400, samesite="lax", httponly=True)
    return response


def _check_csrf(user: Principal, token: str) -> None:
    try:
        check_csrf(user, token)
    except HopnhatError:
        raise _PageForbidden("csrf") from None


def panel(
    title: str,
    produce: Callable[[], Any],
    *keys: str,
    empty: str | None = None,
    links: Callable[[dict[str, Any]], dict[str, str]] | None = None,
) -> dict[str, Any]:
    """A table panel over a service answer; an absent part or a user error shows as a message, not a crash.
    ``empty`` is what to say when there are no rows (default: nothing found); ``links`` gives, per row, the cells
    (by column) that link somewhere."""
    try:
        items = sources.items_of(produce(), *keys)
    except sources.Unavailable:
        return {"title": title, "available": False}
    except HopnhatError as exc:
        return {"title": title, "available": True, "error": exc.detail, "columns": [], "rows": []}
    columns, rows = sources.table(items)
    hrefs = [links(sources.as_dict(i)) for i in items] if links is not None else None
    return {
        "title": title,
        "available": True,
        "columns": columns,
        "rows": rows,
        "items": items,
        "empty": empty,
        "hrefs": hrefs,
    }


def _center_links(row: dict[str, Any]) -> dict[str, str]:
    """A center's name links to its dossiers (by agency code, the value dossiers carry); a center whose code is
    not issued yet has no dossiers to show."""
    code = row.get("agency_code")
    return {"name": f"/dossiers?{urlencode({'center': code})}"} if code else {}


def _first_key(row: dict[str, Any], *candidates: str) -> str | None:
    for key in candidates:
        if key in row:
            return key
    return None


def uptime_chart(items: list[Any], title: str) -> Any:
    """A line per system of its daily uptime %, from whatever rows the continuity part returns; None when the rows
    do not carry a day and an uptime figure."""
    rows = [sources.as_dict(i) for i in items]
    if not rows:
        return None
    day_key = _first_key(rows[0], "day", "date", "on")
    name_key = _first_key(rows[0], "system", "system_code", "system_name", "code", "name")
    value_key = next((k for k in rows[0] if "uptime" in k), None)
    if day_key is None or value_key is None:
        return None
    days = sorted({str(r[day_key]) for r in rows})
    per_system: dict[str, dict[str, float]] = {}
    for r in rows:
        name = str(r.get(name_key, "")) if name_key else ""
        value = r.get(value_key)
        if isinstance(value, int | float):
            per_system.setdefault(name, {})[str(r[day_key])] = float(value)
    series = [(name, [values.get(d, 0.0) for d in days]) for name, values in list(per_system.items())[:5]]
    return charts.line_chart(title, [d[5:] if len(d) == 10 else d for d in days], series, unit="%") if series else None


_COUNTS = ("inserted", "updated", "unchanged", "duplicates")


def sync_progress_chart(items: list[Any], title: str) -> Any:
    """Per source, the share of extracted records that reached the store (not quarantined)."""
    bars = []
    for item in items:
        row = sources.as_dict(item)
        extracted = row.get("extracted")
        if isinstance(extracted, int) and extracted > 0:
            done = sum(int(row.get(k) or 0) for k in _COUNTS)
            bars.append((str(row.get("source") or row.get("source_name") or "?"), 100.0 * done / extracted))
    return charts.bar_chart(title, bars, unit="%", max_value=100) if bars else None


def _not_ready_first(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(rows, key=lambda r: bool(r.get("ready")))


def _count_tones(p: dict[str, Any]) -> tuple[int, int]:
    """(good, bad) rows of a panel, judged by its status-like column."""
    columns: list[str] = p.get("columns", [])
    idx = next((i for i, c in enumerate(columns) if c in ("status", "state", "up", "health")), None)
    if idx is None:
        return 0, 0
    tones = [_tone(row[idx]) for row in p.get("rows", [])]
    return tones.count("good"), tones.count("bad")


# --- routes ------------------------------------------------------------------------------------------------------


def overview(request: Request, session: SessionDep, user: Annotated[Principal, Depends(guard("overview"))]) -> Response:
    lang = _lang(request)
    figures = sources.dossier_figures(session)
    progress = charts.bar_chart(
        translate("progress", lang),
        [
            (translate("dossiers_total", lang), figures["total"]),
            (translate("migrated", lang), figures["migrated"]),
            (translate("needs_review", lang), figures["review"]),
        ],
    )
    on_time = charts.bar_chart(translate("on_time_rate", lang), figures["on_time"], unit="%", max_value=100)
    panels = [
        panel(
            translate("verdicts", lang),
            lambda: sources.cutover_verdicts(session),
            empty=translate("no_verdicts", lang),
        ),
        panel(translate("systems", lang), lambda: sources.system_status(session)),
        panel(translate("overdue_tasks", lang), lambda: sources.plan_tasks(session, "overdue")),
        panel(translate("at_risk_tasks", lang), lambda: sources.plan_tasks(session, "at_risk")),
    ]
    readiness_chart = None
    try:
        ready_rows = sources.readiness(session)
    except sources.Unavailable:
        ready_rows = None
    if ready_rows:
        n = len(ready_rows)
        readiness_chart = charts.bar_chart(
            translate("readiness", lang),
            [
                (translate(key, lang), 100.0 * sum(1 for r in ready_rows if r.get(key)) / n)
                for key in ("staff_ok", "regulation_ok", "equipment_ok", "ready")
            ],
            unit="%",
            max_value=100,
        )
        # The overview names the first centers that are not ready; the centers page lists all of them.
        not_ready = [
            {"code": r["code"], "agency_code": r.get("agency_code"), "name": r["name"], "reasons": r["reasons"]}
            for r in ready_rows
            if not r["ready"]
        ]
        panels.append(panel(translate("not_ready", lang), lambda: not_ready[:10], links=_center_links))
    elif ready_rows is None:
        panels.append({"title": translate("readiness", lang), "available": False})
    up, down = _count_tones(panels[1])
    return render(
        request,
        "overview.html",
        user,
        "overview",
        figures=figures,
        progress=progress,
        on_time=on_time,
        panels=panels,
        systems_up=up,
        systems_down=down,
        systems_known=panels[1].get("available", False),
        readiness_chart=readiness_chart,
    )


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
        signin_csrf=auth.presignin_token(_secret(request), value),
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
    if target == "/" and not principal.can(Permission.CONTINUITY_READ) and principal.can(Permission.DOSSIER_READ):
        return "/dossiers"
    return target


def _session_cookie(request: Request, response: Response, token: str) -> None:
    settings = _settings(request)
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
    if not auth.presignin_ok(_secret(request), request.cookies.get(auth.PRESIGNIN_COOKIE), csrf):
        raise _PageForbidden("csrf")
    address = client_address(request)
    try:
        account = identity.authenticate(session, username, password, address)
    except identity.SigninThrottled as exc:
        _audit_failed_signin(session, username, address, "signin.throttled")
        return _signin_page(request, next, status_code=429, wait=exc.retry_after)
    except HopnhatError:
        _audit_failed_signin(session, username, address, "signin.failed")
        return _signin_page(request, next, status_code=401, failed=True)
    started = identity.start_session(session, account, _settings(request))
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
        _check_csrf(user, csrf)
    ended = identity.end_session(session, request.cookies.get(SESSION_COOKIE))
    if user is not None and ended is not None:
        audit.record(session, user, "signout", object_type="account", object_id=user.username)
    target = "/lookup"
    if ended is not None and ended.method == "oidc" and _settings(request).oidc_issuer:
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

    if not _settings(request).oidc_issuer:
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
        _sign_pending(_secret(request), pending),
        max_age=600,
        httponly=True,
        samesite="lax",
        secure=secure_cookies(request),
    )
    return response


def signin_oidc_callback(request: Request, session: SessionDep, user: PublicUser) -> Response:
    from hopnhat.identity import oidc

    pending = _read_pending(_secret(request), request.cookies.get(OIDC_COOKIE))
    if pending is None or request.query_params.get("state") != pending.get("state"):
        # Expired, replayed, or started elsewhere (login CSRF): never exchange a code we did not ask for.
        return _sso_failed(request, InvalidInput("the sign-in expired or did not start here; sign in again"))
    redirect_uri = str(request.url_for("signin_oidc_callback"))
    try:
        account, id_token = oidc.complete(request.app, session, redirect_uri, str(request.url), pending)
    except HopnhatError as exc:
        session.rollback()
        return _sso_failed(request, exc)
    started = identity.start_session(session, account, _settings(request), method="oidc", id_token=id_token)
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


def lookup(request: Request, session: SessionDep, user: PublicUser, code: str = "") -> Response:
    code = unicodedata.normalize("NFC", code.strip())[:64]
    # The API's allowance: a client cannot double it by alternating between the page and the API.
    if code and not limiter(request).allow(lookup_key(request), _settings(request).public_rate_limit_per_minute):
        return render(
            request,
            "lookup.html",
            user,
            "lookup",
            status_code=429,
            code=code,
            result=None,
            searched=False,
            limited=True,
        )
    result = sources.public_dossier(session, code) if code else None
    return render(request, "lookup.html", user, "lookup", code=code, result=result, searched=bool(code))


def registry_page(
    request: Request,
    session: SessionDep,
    user: Annotated[Principal, Depends(guard("registry"))],
    q: str = "",
    level: str = "commune",
    on: str = "",
) -> Response:
    error = None
    rows: list[Any] = []
    try:
        day = date.fromisoformat(on) if on else date.today()
        rows = sources.units(session, q[:200], day, level)
    except ValueError:
        day, error = date.today(), f"{translate('on_date', _lang(request))}: {on[:20]!r}"
    except HopnhatError as exc:
        error = exc.detail
    return render(request, "registry.html", user, "registry", q=q, level=level, on=day, rows=rows, error=error)


def convert_page(
    request: Request, session: SessionDep, user: Annotated[Principal, Depends(guard("registry"))], address: str = ""
) -> Response:
    result, error, available = None, None, True
    if address.strip():
        try:
            result = sources.convert_address(session, address)
        except sources.Unavailable:
            available = False
        except HopnhatError as exc:
            error = exc.detail
    return render(
        request, "convert.html", user, "convert", address=address, result=result, error=error, available=available
    )


def sync_page(request: Request, session: SessionDep, user: Annotated[Principal, Depends(guard("sync"))]) -> Response:
    lang = _lang(request)
    panels = [
        panel(translate("runs", lang), lambda: sources.sync_runs(session)),
        panel(
            translate("verdicts", lang),
            lambda: sources.cutover_verdicts(session),
            empty=translate("no_verdicts", lang),
        ),
    ]
    chart = sync_progress_chart(panels[0].get("items", [])[:10], translate("progress", lang))
    return render(
        request,
        "panels.html",
        user,
        "sync",
        title=translate("sync", lang),
        panels=panels,
        extra_link=True,
        charts=[chart] if chart else [],
    )


def quarantine_page(
    request: Request,
    session: SessionDep,
    user: Annotated[Principal, Depends(guard("quarantine"))],
    done: str = "",
    failed: str = "",
) -> Response:
    title = translate("quarantine", _lang(request))
    try:
        items = sources.quarantine(session)
    except sources.Unavailable:
        result: dict[str, Any] = {"title": title, "available": False}
    else:
        columns, rows = sources.table(items)
        ids = [sources.as_dict(i).get("id") for i in items]
        result = {"title": title, "available": True, "columns": columns, "rows": rows, "ids": ids}
    return render(request, "quarantine.html", user, "sync", quarantine=result, replayed=done, failed=failed)


def replay(
    request: Request,
    session: SessionDep,
    user: Annotated[Principal, Depends(guard("quarantine"))],
    record_id: int,
    csrf: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    _check_csrf(user, csrf)
    # The replay commits on its own connection: whatever this request wrote so far (its session's last-seen time)
    # is committed first, or SQLite's one writer would be this request, waiting for the replay that waits for it.
    session.commit()
    try:
        sources.replay(session, _settings(request), record_id, user.username or "")
    except sources.Unavailable:
        return RedirectResponse("/sync/quarantine", status_code=303)  # that page says the part is not available
    except HopnhatError as exc:
        session.rollback()
        _audit_replay(session, user, record_id, "refused")
        return RedirectResponse(f"/sync/quarantine?{urlencode({'failed': exc.detail[:300]})}", status_code=303)
    _audit_replay(session, user, record_id, "replayed")
    return RedirectResponse(f"/sync/quarantine?done={record_id}", status_code=303)


def _audit_replay(session: SessionDep, user: Principal, record_id: int, result: str) -> None:
    audit.record(
        session,
        user,
        "quarantine.replay",
        object_type="quarantine",
        object_id=str(record_id),
        changes={"result": [None, result]},
    )


def dossiers_page(
    request: Request,
    session: SessionDep,
    user: Annotated[Principal, Depends(guard("dossiers"))],
    center: str = "",
    overdue: str = "",
) -> Response:
    # A center may be named by its commune code too (as in `hopnhat users add --center`); dossiers carry the
    # agency code.
    center = sources.center_agency_code(session, center.strip()[:40]) if center.strip() else ""
    scope = user.dossier_scope
    if not scope.everything:
        if center and center not in scope.centers:
            raise _PageForbidden("dossiers")
        centers = sorted(scope.centers)
        if not center and len(centers) == 1:
            center = centers[0]  # an officer of one center sees that center's list, named as such
    else:
        centers = sources.center_codes(session)
        if center and center not in centers:
            centers.append(center)
    rows = sources.center_dossiers(session, center or None, overdue_only=bool(overdue), scope=scope)
    # The list shows applicants' names: one audited view per dossier shown, so each citizen's report finds it.
    audit.record_many(session, user, "dossier.list", (("dossier", r["code"], r.pop("citizen_id")) for r in rows))
    return render(
        request,
        "dossiers.html",
        user,
        "dossiers",
        rows=rows,
        center=center,
        centers=centers,
        center_names=sources.center_names(session, centers),
        overdue=bool(overdue),
        all_centers=scope.everything or len(centers) > 1,
    )


def systems_page(
    request: Request, session: SessionDep, user: Annotated[Principal, Depends(guard("systems"))]
) -> Response:
    lang = _lang(request)
    panels = [
        panel(translate("status", lang), lambda: sources.system_status(session)),
        panel(translate("incidents", lang), lambda: sources.incidents(session)),
        panel(translate("uptime", lang), lambda: sources.uptime(session)),
        panel(translate("systems", lang), lambda: sources.systems(session)),
    ]
    chart = uptime_chart(panels[2].get("items", []), translate("uptime", lang))
    return render(
        request,
        "panels.html",
        user,
        "systems",
        title=translate("systems", lang),
        panels=panels,
        charts=[chart] if chart else [],
    )


def plan_page(request: Request, session: SessionDep, user: Annotated[Principal, Depends(guard("plan"))]) -> Response:
    lang = _lang(request)
    panels = [
        panel(
            translate("verdicts", lang),
            lambda: sources.cutover_verdicts(session),
            empty=translate("no_verdicts", lang),
        ),
        panel(translate("overdue_tasks", lang), lambda: sources.plan_tasks(session, "overdue")),
        panel(translate("at_risk_tasks", lang), lambda: sources.plan_tasks(session, "at_risk")),
        panel(translate("plan", lang), lambda: sources.plan_tasks(session)),
    ]
    return render(request, "panels.html", user, "plan", title=translate("plan", lang), panels=panels)


def centers_page(
    request: Request, session: SessionDep, user: Annotated[Principal, Depends(guard("centers"))]
) -> Response:
    lang = _lang(request)
    panels = [
        panel(translate("readiness", lang), lambda: _not_ready_first(sources.readiness(session)), links=_center_links),
        panel(translate("centers", lang), lambda: sources.centers(session), links=_center_links),
    ]
    return render(request, "panels.html", user, "centers", title=translate("centers", lang), panels=panels)


def _audit_filters(actor: str, action: str, object: str) -> audit.Filters:
    return audit.Filters(
        actor=actor.strip()[:64] or None, action=action.strip()[:64] or None, object_id=object.strip()[:128] or None
    )


def audit_page(
    request: Request,
    session: SessionDep,
    user: Annotated[Principal, Depends(guard("audit"))],
    actor: Annotated[str, Query(max_length=64)] = "",
    action: Annotated[str, Query(max_length=64)] = "",
    object: Annotated[str, Query(max_length=128)] = "",
) -> Response:
    rows = [audit.as_row(e) for e in audit.entries(session, _audit_filters(actor, action, object))]
    audit.record(session, user, "audit.query", object_type="audit")
    return _audit_render(request, user, rows, actor, action, object, citizen=False)


def _audit_render(
    request: Request,
    user: Principal,
    rows: list[dict[str, Any]],
    actor: str,
    action: str,
    object: str,
    *,
    citizen: bool,
) -> Response:
    return render(
        request,
        "audit.html",
        user,
        "audit",
        rows=rows,
        columns=AUDIT_COLUMNS,
        actor=actor,
        action=action,
        object=object,
        export_query=urlencode({"actor": actor, "action": action, "object": object}),
        citizen=citizen,
    )


AUDIT_COLUMNS = ["seq", "at", "actor", "roles", "client", "action", "object_type", "object_id", "changes"]


def _report_file(rows: list[dict[str, Any]], fmt: str, name: str) -> Response:
    from hopnhat.identity.cli import render_report

    media = (
        "text/csv; charset=utf-8"
        if fmt == "csv"
        else ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
    )
    return Response(
        render_report(rows, fmt),
        media_type=media,
        headers={"Content-Disposition": f'attachment; filename="{name}.{fmt}"'},
    )


def audit_export(
    session: SessionDep,
    user: Annotated[Principal, Depends(guard("audit"))],
    actor: Annotated[str, Query(max_length=64)] = "",
    action: Annotated[str, Query(max_length=64)] = "",
    object: Annotated[str, Query(max_length=128)] = "",
    format: Annotated[str, Query(pattern="^(csv|xlsx)$")] = "csv",
) -> Response:
    rows = [audit.as_row(e) for e in audit.entries(session, _audit_filters(actor, action, object))]
    audit.record(session, user, "audit.export", object_type="audit")
    return _report_file(rows, format, "audit")


def audit_citizen(
    request: Request,
    session: SessionDep,
    user: Annotated[Principal, Depends(guard("audit"))],
    id_number: Annotated[str, Form(max_length=20)],
    csrf: Annotated[str, Form(max_length=200)] = "",
    format: Annotated[str, Form(pattern="^(html|csv|xlsx)$")] = "html",
) -> Response:
    """A POST, so the ID number never sits in a URL (access logs, history, Referer)."""
    _check_csrf(user, csrf)
    rows = audit.citizen_report(session, id_number)
    audit.record(session, user, "audit.citizen_report", object_type="audit", citizen_id=id_number)
    if format != "html":
        return _report_file(rows, format, "citizen-accesses")
    return _audit_render(request, user, rows, "", "", "", citizen=True)


def mount(app: FastAPI) -> None:
    """Add the pages and ``/static`` to ``app`` (called by :func:`hopnhat.app.create_app`)."""
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")

    @app.exception_handler(_NeedSignIn)
    async def _need_signin(_request: Request, exc: _NeedSignIn) -> Response:
        return RedirectResponse(f"/signin?next={quote(str(exc))}", status_code=303)

    @app.exception_handler(_PageForbidden)
    async def _forbidden(request: Request, _exc: _PageForbidden) -> Response:
        lang = _lang(request)
        return HTMLResponse(
            templates.get_template("forbidden.html").render(lang=lang, t=lambda key: translate(key, lang)),
            status_code=403,
        )

    def get(path: str, endpoint: Callable[..., Any]) -> None:
        app.add_api_route(path, endpoint, methods=["GET"], response_class=HTMLResponse, include_in_schema=False)

    get("/", overview)
    get("/signin", signin_form)
    app.add_api_route("/signin", signin, methods=["POST"], include_in_schema=False)
    app.add_api_route("/signout", signout, methods=["POST"], include_in_schema=False)
    app.add_api_route("/signin/oidc", signin_oidc, methods=["GET"], include_in_schema=False)
    app.add_api_route(
        "/signin/oidc/callback",
        signin_oidc_callback,
        methods=["GET"],
        include_in_schema=False,
        name="signin_oidc_callback",
    )
    get("/lookup", lookup)
    get("/registry", registry_page)
    get("/convert", convert_page)
    get("/sync", sync_page)
    get("/sync/quarantine", quarantine_page)
    from hopnhat.web import sources_pages  # it imports this module: mounted here, not at the top

    sources_pages.mount(get)
    app.add_api_route("/sync/quarantine/{record_id}/replay", replay, methods=["POST"], include_in_schema=False)
    get("/dossiers", dossiers_page)
    get("/systems", systems_page)
    get("/plan", plan_page)
    get("/centers", centers_page)
    get("/audit", audit_page)
    app.add_api_route("/audit/export", audit_export, methods=["GET"], include_in_schema=False)
    app.add_api_route("/audit/citizen", audit_citizen, methods=["POST"], include_in_schema=False)
    from hopnhat.web import portal_pages  # it imports this module's helpers

    portal_pages.mount(app)
    from hopnhat.web import steward_pages  # it imports this module's helpers

    app.include_router(steward_pages.router)


__all__ = ["mount"]
