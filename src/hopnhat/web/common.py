"""What every page shares: the menu, who is signed in, the guard of a page, rendering in the page's language, the
cells' texts and tones, table panels with paging, and the CSRF check and redirect after a form.

The pages themselves live in one module per part (``overview_pages``, ``registry_pages``, ``sync_pages``,
``continuity_pages``, ``dossier_pages``, ``audit_pages``, ``signin_pages``, ``officer``, ``calendar_pages``,
``portal_pages``, ``sources_pages``); each calls the services it shows by import and gets typed results.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Sequence
from datetime import date, datetime
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import Depends, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from pydantic import BaseModel

from hopnhat.config import VN_TZ, Settings
from hopnhat.deps import SessionDep
from hopnhat.errors import HopnhatError, Unauthorized
from hopnhat.i18n import LANGS, TEXTS, pick_lang, translate, translate_reason
from hopnhat.identity.http import SAFE_METHODS, check_csrf, resolve_principal
from hopnhat.identity.principal import Principal
from hopnhat.identity.roles import Permission, Scope, expand_scopes
from hopnhat.web import auth

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


class NeedSignIn(Exception):
    pass


class PageForbidden(Exception):
    pass


def settings_of(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def secret_of(request: Request) -> str:
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
            raise NeedSignIn(request.url.path + (f"?{request.url.query}" if request.url.query else ""))
        if not user.can(permission):
            raise PageForbidden(page)
        if (
            request.method not in SAFE_METHODS
            and user.scopes is not None
            and Scope.WRITE not in expand_scopes(user.scopes)
        ):
            raise PageForbidden(page)  # a form that changes something needs a token that may write
        return user

    dependency.__hopnhat_rule__ = permission  # type: ignore[attr-defined]
    return dependency


def lang_of(request: Request) -> str:
    return pick_lang(request.query_params.get("lang"), request.cookies.get("lang"))


def fmt(value: Any) -> str:
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
        return ", ".join(fmt(v) for v in value)
    return str(value)


_GOOD = frozenset({"up", "ok", "pass", "passed", "ready", "done", "true", "go", "closed", "succeeded", "completed"})
_BAD = frozenset(
    {"down", "fail", "failed", "blocked", "no-go", "no_go", "overdue", "false", "open", "dead", "not_ready", "error"}
)


_PROBLEM_FLAGS = frozenset({"overdue", "at_risk", "needs_review", "cutover_blocked"})
"""Yes/no columns where yes is the problem: their "no" is not a failure, so it gets no red."""


def tone(value: Any, column: str = "") -> str:
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


def cell_text(value: Any, lang: str, column: str = "") -> str:
    """A table cell's text: the known values of the parts' enumerations in the page's language, reasons translated
    phrase by phrase, the rest as is."""
    if column in _REASON_COLUMNS and value:
        parts = value if isinstance(value, list | tuple) else [value]
        return "; ".join(translate_reason(str(p), lang) for p in parts)
    if isinstance(value, list | tuple):
        return ", ".join(cell_text(v, lang) for v in value)
    text = fmt(value)
    key = text.lower()
    if key in _TRANSLATED_STATES:
        return translate(key, lang)
    if f"v_{key}" in TEXTS:
        return translate(f"v_{key}", lang)
    return text


def render(
    request: Request, name: str, user: Principal | None, page: str, status_code: int = 200, **context: Any
) -> Response:
    lang = lang_of(request)
    settings = settings_of(request)
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
            "fmt": fmt,
            "cell_text": lambda value, column="": cell_text(value, lang, column),
            # A service's message in the page's language where hopnhat.i18n.REASONS knows it, else as it is.
            "reason": lambda text: translate_reason(str(text), lang),
            "tone": tone,
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


def check_form(user: Principal, token: str) -> None:
    try:
        check_csrf(user, token)
    except HopnhatError:
        raise PageForbidden("csrf") from None


def redirect(path: str, *, anchor: str = "", **query: str) -> RedirectResponse:
    """The answer to a form: back to ``path`` with what happened in the query (the page shows it as a message), so
    a reload does not post the form again. Empty values are left out; a message is cut to 300 characters."""
    shown = {k: v[:300] for k, v in query.items() if v}
    url = f"{path}?{urlencode(shown)}" if shown else path
    return RedirectResponse(f"{url}#{anchor}" if anchor else url, status_code=303)


Row = Any
"""A row of a table panel: a Pydantic model, a dataclass instance or a mapping (see :func:`as_dict`)."""

HIDDEN_FIELDS = ("applicant_", "raw", "payload", "password")
"""Fields a table panel never shows: personal data and raw source records stay out of rendered pages."""

PER_PAGE = 10
"""Rows of a table panel on one page: every list is paged, so no page grows with the data, and a page of two
panels stays within two screens at 1366 × 900."""


def as_dict(item: Row) -> dict[str, Any]:
    if isinstance(item, BaseModel):
        return item.model_dump()
    if dataclasses.is_dataclass(item) and not isinstance(item, type):
        return {f.name: getattr(item, f.name) for f in dataclasses.fields(item)}
    return dict(item)  # a mapping: rows a page builds itself (the dry run's report)


@dataclasses.dataclass
class Panel:
    """A titled table over a service's rows, one page of them at a time."""

    title: str
    key: str
    """Names the panel in the page's query (``<key>_page``) and its heading's id."""
    columns: list[str] = dataclasses.field(default_factory=list)
    rows: list[list[Any]] = dataclasses.field(default_factory=list)
    items: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    """The rows shown, as mappings (for charts and counts over them)."""
    hrefs: list[dict[str, str]] | None = None
    empty: str | None = None
    error: str | None = None
    page: int = 1
    pages: int = 1
    total: int = 0
    available: bool = True

    def page_url(self, request: Request, page: int) -> str:
        query = {k: v for k, v in request.query_params.items() if k != f"{self.key}_page"}
        return f"{request.url.path}?{urlencode({**query, f'{self.key}_page': page})}#p-{self.key}"


def panel(
    request: Request,
    title: str,
    key: str,
    produce: Callable[[], Sequence[Row]],
    *,
    empty: str | None = None,
    links: Callable[[dict[str, Any]], dict[str, str]] | None = None,
    drop: Sequence[str] = ("id",),
    per_page: int = PER_PAGE,
) -> Panel:
    """A table panel over a service answer, paged by ``<key>_page`` in the query; a user error (a setting not set,
    say) shows as a message, not a crash. ``empty`` is what to say when there are no rows (default: nothing
    found); ``links`` gives, per row, the cells (by column) that link somewhere."""
    try:
        items = list(produce())
    except HopnhatError as exc:
        return Panel(title, key, error=translate_reason(exc.detail, lang_of(request)))
    total = len(items)
    pages = max(1, -(-total // per_page))
    try:
        page = min(max(1, int(request.query_params.get(f"{key}_page", "1")[:6])), pages)
    except ValueError:
        page = 1
    shown = [as_dict(i) for i in items[(page - 1) * per_page : page * per_page]]
    columns: list[str] = []
    for d in shown:
        for column in d:
            if column not in columns and column not in drop and not column.startswith(HIDDEN_FIELDS):
                columns.append(column)
    return Panel(
        title,
        key,
        columns=columns,
        rows=[[d.get(c) for c in columns] for d in shown],
        items=shown,
        hrefs=[links(d) for d in shown] if links is not None else None,
        empty=empty,
        page=page,
        pages=pages,
        total=total,
    )


__all__ = [
    "HIDDEN_FIELDS",
    "NAV",
    "NeedSignIn",
    "PageForbidden",
    "Panel",
    "PublicUser",
    "UserDep",
    "as_dict",
    "cell_text",
    "check_form",
    "current_user",
    "fmt",
    "guard",
    "lang_of",
    "panel",
    "public_page",
    "redirect",
    "render",
    "secret_of",
    "settings_of",
    "templates",
    "tone",
]
