"""The web pages: ``mount(app)`` adds the page routes and ``/static``.

One module per part holds its pages (see :mod:`hopnhat.web.common` for what they share); each calls the services
it shows by import, never HTTP to itself. A request owns its transaction through :data:`hopnhat.deps.SessionDep`.
Pages with personal data or that change anything need sign-in (see :data:`hopnhat.web.auth.PAGE_PERMISSIONS`);
forms that change something carry a CSRF token bound to the session.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from hopnhat.i18n import translate
from hopnhat.web import (
    audit_pages,
    continuity_pages,
    dossier_pages,
    overview_pages,
    portal_pages,
    registry_pages,
    signin_pages,
    sources_pages,
    steward_pages,
    sync_pages,
)
from hopnhat.web.common import HERE, NeedSignIn, PageForbidden, lang_of, templates


def mount(app: FastAPI) -> None:
    """Add the pages and ``/static`` to ``app`` (called by :func:`hopnhat.app.create_app`)."""
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")

    @app.exception_handler(NeedSignIn)
    async def _need_signin(_request: Request, exc: NeedSignIn) -> Response:
        return RedirectResponse(f"/signin?next={quote(str(exc))}", status_code=303)

    @app.exception_handler(PageForbidden)
    async def _forbidden(request: Request, _exc: PageForbidden) -> Response:
        lang = lang_of(request)
        return HTMLResponse(
            templates.get_template("forbidden.html").render(lang=lang, t=lambda key: translate(key, lang)),
            status_code=403,
        )

    def get(path: str, endpoint: Callable[..., Any]) -> None:
        app.add_api_route(path, endpoint, methods=["GET"], response_class=HTMLResponse, include_in_schema=False)

    def post(path: str, endpoint: Callable[..., Any], **extra: Any) -> None:
        app.add_api_route(path, endpoint, methods=["POST"], include_in_schema=False, **extra)

    get("/", overview_pages.overview)
    get("/signin", signin_pages.signin_form)
    post("/signin", signin_pages.signin)
    post("/signout", signin_pages.signout)
    app.add_api_route("/signin/oidc", signin_pages.signin_oidc, methods=["GET"], include_in_schema=False)
    app.add_api_route(
        "/signin/oidc/callback",
        signin_pages.signin_oidc_callback,
        methods=["GET"],
        include_in_schema=False,
        name="signin_oidc_callback",
    )
    get("/lookup", dossier_pages.lookup)
    get("/registry", registry_pages.registry_page)
    get("/convert", registry_pages.convert_page)
    get("/sync", sync_pages.sync_page)
    get("/sync/quarantine", sync_pages.quarantine_page)
    get("/sync/sources", sources_pages.sources_page)
    post("/sync/quarantine/{record_id}/replay", sync_pages.replay)
    get("/dossiers", dossier_pages.dossiers_page)
    get("/systems", continuity_pages.systems_page)
    get("/plan", continuity_pages.plan_page)
    get("/centers", continuity_pages.centers_page)
    get("/audit", audit_pages.audit_page)
    app.add_api_route("/audit/export", audit_pages.audit_export, methods=["GET"], include_in_schema=False)
    post("/audit/citizen", audit_pages.audit_citizen)
    portal_pages.mount(app)
    app.include_router(steward_pages.router)


__all__ = ["mount"]
