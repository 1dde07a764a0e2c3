"""``create_app()``: the FastAPI application with every part's router, JSON errors and the web pages.

The engine is made here (never at import time) and kept in ``app.state``; a request owns its transaction through
:func:`hopnhat.deps.get_session` and commits once.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from urllib.parse import urlsplit

from fastapi import Depends, FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from sqlalchemy import Engine
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hopnhat import __version__
from hopnhat.config import Settings, get_settings
from hopnhat.db import ensure_schema, make_engine
from hopnhat.errors import HopnhatError
from hopnhat.identity.http import rule
from hopnhat.identity.roles import Permission
from hopnhat.identity.service import secret_key

log = logging.getLogger(__name__)

API_PREFIX = "/api/v1"
ROUTERS = (
    "hopnhat.registry.endpoints",
    "hopnhat.registry.address_endpoints",
    "hopnhat.sync.endpoints",
    "hopnhat.settlement.endpoints",
    "hopnhat.portal.endpoints",
    "hopnhat.continuity.endpoints",
)
"""Modules with ``router: APIRouter`` mounted under ``/api/v1``, one per part."""


def create_app(settings: Settings | None = None, engine: Engine | None = None) -> FastAPI:
    settings = settings or get_settings()
    if engine is None:
        # No ping before each request: it is a round trip on every lookup (a quarter of a public lookup's cost).
        # After a database restart one request per pooled connection fails and SQLAlchemy invalidates the pool
        # (its "optimistic" disconnect handling); connections are also recycled every 30 minutes.
        engine = make_engine(settings.database_url, pool_pre_ping=False, pool_recycle=1800)
        ensure_schema(engine)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield

    app = FastAPI(
        title="hopnhat",
        version=__version__,
        description="Registry, consolidation, settlement and continuity of the merged Thành phố Cần Thơ. "
        "Send a machine token (hopnhat tokens create) or an access token of the city's sign-in platform as "
        "`Authorization: Bearer ...`; see README, Identity and access, for who may call what.",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.state.settings = settings
    app.state.engine = engine
    # The key that signs cookies and CSRF tokens: the setting, or the store's generated one (shared by all hosts).
    app.state.secret_key = secret_key(engine, settings)
    app.add_middleware(SecurityHeaders, form_origins=oidc_origins(settings))

    @app.exception_handler(HopnhatError)
    async def _hopnhat_error(_request: Request, exc: HopnhatError) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if exc.status_code == 401 else None
        retry = getattr(exc, "retry_after", None)
        if exc.status_code == 429:
            headers = {"Retry-After": str(retry or 60)}
        return JSONResponse({"error": exc.code, "detail": exc.detail}, status_code=exc.status_code, headers=headers)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
        # Errors raised by the framework itself (unknown route, wrong method, unparsable body) keep the API's one
        # error shape; the web pages keep the framework's own answers.
        if not request.url.path.startswith(API_PREFIX):
            return await http_exception_handler(request, exc)
        code = {400: "bad_request", 404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return JSONResponse(
            {"error": code, "detail": str(exc.detail)}, status_code=exc.status_code, headers=exc.headers
        )

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = [f"{'.'.join(str(p) for p in err.get('loc', ()))}: {err.get('msg', '')}" for err in exc.errors()]
        return JSONResponse({"error": "invalid_input", "detail": "; ".join(problems)}, status_code=422)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        # Log the type and path only: the message may quote request data (personal data never goes to logs).
        log.error("unexpected %s on %s %s", type(exc).__name__, request.method, request.url.path)
        return JSONResponse({"error": "internal_error", "detail": "unexpected server error"}, status_code=500)

    @app.get(f"{API_PREFIX}/health", tags=["meta"], dependencies=[Depends(rule(Permission.PUBLIC))])
    def health() -> dict[str, str]:
        """Liveness: the process answers."""
        return {"status": "ok", "version": __version__}

    for name in ROUTERS:
        app.include_router(importlib.import_module(name).router, prefix=API_PREFIX)
    from hopnhat.continuity.endpoints import prometheus
    from hopnhat.identity import endpoints as identity_endpoints
    from hopnhat.web import pages

    app.include_router(identity_endpoints.router, prefix=API_PREFIX)
    # Prometheus scrapes here with a token (bearer_token in its scrape config): the gauges name systems and
    # incidents, which is the operators' business, not the public's.
    app.add_api_route(
        "/metrics",
        prometheus,
        methods=["GET"],
        include_in_schema=False,
        dependencies=[Depends(rule(Permission.METRICS))],
    )
    _docs(app)
    pages.mount(app)
    return app


def _docs(app: FastAPI) -> None:
    """``/docs`` from vendored Swagger UI (no CDN, no inline script); ``/openapi.json`` stays public: it describes
    the interface, not data."""

    def openapi() -> JSONResponse:
        return JSONResponse(app.openapi())

    app.add_api_route(
        "/openapi.json",
        openapi,
        methods=["GET"],
        include_in_schema=False,
        dependencies=[Depends(rule(Permission.PUBLIC))],
    )

    def docs() -> HTMLResponse:
        return HTMLResponse(
            '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>hopnhat API</title>'
            '<link rel="stylesheet" href="/static/swagger/swagger-ui.css"></head>'
            '<body><div id="swagger-ui"></div><script src="/static/swagger/swagger-ui-bundle.js"></script>'
            '<script src="/static/swagger/init.js"></script></body></html>'
        )

    app.add_api_route(
        "/docs", docs, methods=["GET"], include_in_schema=False, dependencies=[Depends(rule(Permission.PUBLIC))]
    )


def oidc_origins(settings: Settings) -> tuple[str, ...]:
    """Origins a form may lead to: the provider's, for the sign-out that ends there."""
    if not settings.oidc_issuer:
        return ()
    parts = urlsplit(settings.oidc_issuer)
    return (f"{parts.scheme}://{parts.netloc}",)


class SecurityHeaders:
    """Pure ASGI (a BaseHTTPMiddleware would cost the public lookup a task per request): adds the headers every
    answer carries. No inline script anywhere; Swagger UI's own inline styles are allowed on ``/docs`` only."""

    def __init__(self, app: ASGIApp, form_origins: tuple[str, ...] = ()) -> None:
        self.app = app
        form = " ".join(("'self'", *form_origins))
        base = (
            "default-src 'self'; script-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; "
            f"form-action {form}; frame-ancestors 'none'"
        )
        self.csp = (base + "; style-src 'self'").encode()
        self.csp_docs = (base + "; style-src 'self' 'unsafe-inline'").encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope.get("path", "")
        static = path.startswith("/static/")
        csp = self.csp_docs if path == "/docs" else self.csp
        https = scope.get("scheme") == "https"

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {k.lower() for k, _ in headers}
                extra = [
                    (b"content-security-policy", csp),
                    (b"x-content-type-options", b"nosniff"),
                    (b"referrer-policy", b"same-origin"),
                    (b"x-frame-options", b"DENY"),
                ]
                if not static and b"cache-control" not in present:
                    # Pages and answers may carry personal data: no copy in the browser's or a proxy's cache.
                    extra.append((b"cache-control", b"no-store"))
                if https:
                    extra.append((b"strict-transport-security", b"max-age=31536000"))
                message["headers"] = headers + [(k, v) for k, v in extra if k not in present]
            await send(message)

        await self.app(scope, receive, send_with_headers)


__all__ = ["API_PREFIX", "create_app"]
