"""The web pages: ``mount(app)`` adds the page routes and ``/static``.

Pages call the same service functions as the API (never HTTP to itself). A request owns its transaction through
:data:`hopnhat.deps.SessionDep`. Pages with personal data or that change anything need sign-in (see
:data:`hopnhat.web.auth.PAGE_ROLES`); forms that change something carry a CSRF token bound to the session.
"""

from __future__ import annotations

import logging
import unicodedata
from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote, urlencode

from fastapi import Depends, FastAPI, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from hopnhat.config import VN_TZ, Settings
from hopnhat.deps import SessionDep
from hopnhat.errors import HopnhatError
from hopnhat.settlement.endpoints import lookup_limiter
from hopnhat.web import auth, charts, sources
from hopnhat.web.i18n import LANGS, TEXTS, pick_lang, translate, translate_reason
from hopnhat.web.models import Role, User

log = logging.getLogger(__name__)

HERE = Path(__file__).parent
templates = Jinja2Templates(directory=HERE / "templates")

NAV = (
    ("overview", "/"),
    ("lookup", "/lookup"),
    ("registry", "/registry"),
    ("convert", "/convert"),
    ("sync", "/sync"),
    ("dossiers", "/dossiers"),
    ("systems", "/systems"),
    ("plan", "/plan"),
    ("centers", "/centers"),
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


def current_user(request: Request, session: SessionDep) -> User | None:
    data = auth.read_cookie(_settings(request).secret_key, request.cookies.get(auth.COOKIE))
    if data is None:
        return None
    user = auth.get_user(session, data[0])
    if user is None or not user.active:
        return None
    request.state.nonce = data[1]
    return user


UserDep = Annotated[User | None, Depends(current_user)]


def guard(page: str) -> Callable[[Request, User | None], User]:
    """Dependency: the signed-in user allowed on ``page``; else a redirect to sign-in or a 403 page."""

    def dependency(request: Request, user: UserDep) -> User:
        if user is None:
            raise _NeedSignIn(request.url.path + (f"?{request.url.query}" if request.url.query else ""))
        if not auth.may_open(user, page):
            raise _PageForbidden(page)
        return user

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
"""Columns whose text the services write in English as fixed phrases (see :data:`hopnhat.web.i18n.REASONS`)."""


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
    request: Request, name: str, user: User | None, page: str, status_code: int = 200, **context: Any
) -> Response:
    lang = _lang(request)
    nonce = getattr(request.state, "nonce", "")
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
            "csrf": auth.csrf_token(settings.secret_key, user.username, nonce) if user else "",
            "lang_url": f"{request.url.path}?{urlencode({**query, 'lang': other})}",
            "other_lang": other,
            **context,
        },
        status_code=status_code,
    )
    if request.query_params.get("lang") in LANGS:
        response.set_cookie("lang", lang, max_age=365 * 86400, samesite="lax", httponly=True)
    return response


def _check_csrf(request: Request, user: User, token: str) -> None:
    expected = auth.csrf_token(_settings(request).secret_key, user.username, getattr(request.state, "nonce", ""))
    if token != expected:
        raise _PageForbidden("csrf")


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


def overview(request: Request, session: SessionDep, user: Annotated[User, Depends(guard("overview"))]) -> Response:
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


def signin_form(request: Request, user: UserDep, next: str = "/") -> Response:
    return render(request, "signin.html", user, "signin", next=_safe_next(next), failed=False)


def _safe_next(target: str) -> str:
    # Only paths on this site: a crafted ?next= must not send a signed-in user to another host.
    return target if target.startswith("/") and not target.startswith("//") else "/"


def signin(
    request: Request,
    session: SessionDep,
    username: Annotated[str, Form()],
    password: Annotated[str, Form()],
    next: Annotated[str, Form()] = "/",
) -> Response:
    user = auth.authenticate(session, username, password)
    if user is None:
        log.info("web sign-in refused")
        return render(request, "signin.html", None, "signin", status_code=401, next=_safe_next(next), failed=True)
    target = _safe_next(next)
    if target == "/" and user.role == Role.CENTER_OFFICER:
        target = "/dossiers"
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(
        auth.COOKIE,
        auth.session_cookie(_settings(request).secret_key, user),
        max_age=auth.SESSION_MAX_AGE,
        httponly=True,
        samesite="lax",
    )
    return response


def signout() -> Response:
    response = RedirectResponse("/lookup", status_code=303)
    response.delete_cookie(auth.COOKIE)
    return response


def lookup(request: Request, session: SessionDep, user: UserDep, code: str = "") -> Response:
    code = unicodedata.normalize("NFC", code.strip())[:64]
    # The API's window: a client cannot double its allowance by alternating between the page and the API.
    if code and not lookup_limiter(request).allow(
        request.client.host if request.client else "?", _settings(request).public_rate_limit_per_minute
    ):
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
    user: Annotated[User, Depends(guard("registry"))],
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
    request: Request, session: SessionDep, user: Annotated[User, Depends(guard("registry"))], address: str = ""
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


def sync_page(request: Request, session: SessionDep, user: Annotated[User, Depends(guard("sync"))]) -> Response:
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
    user: Annotated[User, Depends(guard("sync"))],
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
    user: Annotated[User, Depends(guard("sync"))],
    record_id: int,
    csrf: Annotated[str, Form()] = "",
) -> Response:
    _check_csrf(request, user, csrf)
    try:
        sources.replay(session, _settings(request), record_id, user.username)
    except sources.Unavailable:
        return RedirectResponse("/sync/quarantine", status_code=303)  # that page says the part is not available
    except HopnhatError as exc:
        session.rollback()
        return RedirectResponse(f"/sync/quarantine?{urlencode({'failed': exc.detail[:300]})}", status_code=303)
    return RedirectResponse(f"/sync/quarantine?done={record_id}", status_code=303)


def dossiers_page(
    request: Request,
    session: SessionDep,
    user: Annotated[User, Depends(guard("dossiers"))],
    center: str = "",
    overdue: str = "",
) -> Response:
    # A center may be named by its commune code too (as in `hopnhat users add --center`); dossiers carry the
    # agency code.
    center = sources.center_agency_code(session, center.strip()[:40]) if center.strip() else ""
    if user.role == Role.CENTER_OFFICER:
        if center and center != user.center_code:
            raise _PageForbidden("dossiers")
        center = user.center_code or ""
        centers = [center]
    else:
        centers = sources.center_codes(session)
        if center and center not in centers:
            centers.append(center)
    rows = sources.center_dossiers(session, center or None, overdue_only=bool(overdue))
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
    )


def systems_page(request: Request, session: SessionDep, user: Annotated[User, Depends(guard("systems"))]) -> Response:
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


def plan_page(request: Request, session: SessionDep, user: Annotated[User, Depends(guard("plan"))]) -> Response:
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


def centers_page(request: Request, session: SessionDep, user: Annotated[User, Depends(guard("centers"))]) -> Response:
    lang = _lang(request)
    panels = [
        panel(translate("readiness", lang), lambda: _not_ready_first(sources.readiness(session)), links=_center_links),
        panel(translate("centers", lang), lambda: sources.centers(session), links=_center_links),
    ]
    return render(request, "panels.html", user, "centers", title=translate("centers", lang), panels=panels)


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
    get("/lookup", lookup)
    get("/registry", registry_page)
    get("/convert", convert_page)
    get("/sync", sync_page)
    get("/sync/quarantine", quarantine_page)
    app.add_api_route("/sync/quarantine/{record_id}/replay", replay, methods=["POST"], include_in_schema=False)
    get("/dossiers", dossiers_page)
    get("/systems", systems_page)
    get("/plan", plan_page)
    get("/centers", centers_page)


__all__ = ["mount"]
