"""``create_app()``: the FastAPI application with every part's router, JSON errors and the web pages.

The engine is made here (never at import time) and kept in ``app.state``; a request owns its transaction through
:func:`hopnhat.deps.get_session` and commits once.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import os
import traceback
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
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
from hopnhat.db import check_schema, make_engine
from hopnhat.deps import SessionDep
from hopnhat.errors import ErrorOut, HopnhatError, PayloadTooLarge
from hopnhat.identity.http import rule
from hopnhat.identity.roles import Permission
from hopnhat.identity.service import secret_key
from hopnhat.limits_http import BodyLimit, refuse_unstorable
from hopnhat.ops import health as ops_health
from hopnhat.ops import logs, production
from hopnhat.ops.http import ObserveRequests

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

ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorOut, "description": text}
    for status, text in (
        (400, "A character the store cannot hold (invalid_character, naming the field), or an unreadable body"),
        (401, "No credentials, or unknown, expired or revoked ones (unauthorized)"),
        (403, "Signed in, but not allowed to do this (forbidden)"),
        (404, "Nothing has this code or id (not_found)"),
        (409, "The request conflicts with what is stored (conflict, invalid_transition)"),
        (413, "The body is larger than the setting max_request_bytes (payload_too_large)"),
        (422, "A field is missing or invalid (invalid_input, naming the field and the reason)"),
        (429, "Too many requests (rate_limited); Retry-After says when to try again"),
    )
}
"""The error answers of every operation, in the one shape the handlers below render. Listing 422 here also keeps
FastAPI from describing its own ``HTTPValidationError``, which this API never sends."""


def create_app(settings: Settings | None = None, engine: Engine | None = None) -> FastAPI:
    settings = settings or get_settings()
    if not any(getattr(h, "hopnhat", False) for h in logging.getLogger().handlers):
        logs.configure(settings)  # a worker process started by uvicorn: the CLI's configuration did not reach it
    production.check(settings)
    if engine is None:
        # No ping before each request: it is a round trip on every lookup (a quarter of a public lookup's cost).
        # After a database restart one request per pooled connection fails and SQLAlchemy invalidates the pool
        # (its "optimistic" disconnect handling); connections are also recycled every 30 minutes.
        engine = make_engine(settings.database_url, pool_pre_ping=False, pool_recycle=1800)
        check_schema(engine)  # a behind PostgreSQL store is refused: only `hopnhat db upgrade` migrates it

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        sealer = asyncio.create_task(_seal_audit(app))
        try:
            yield
        finally:
            sealer.cancel()
            await _seal_last(app)  # SIGTERM: the entries of the last requests join the chain before the exit

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
        dependencies=[Depends(refuse_unstorable)],
        responses=ERROR_RESPONSES,
    )
    app.state.settings = settings
    app.state.engine = engine
    # The key that signs cookies and CSRF tokens: the setting, or the store's generated one (shared by all hosts).
    app.state.secret_key = secret_key(engine, settings)
    # Outermost last: the headers go on every answer, the 500 and an early 413 included.
    app.add_middleware(BodyLimit, limit=settings.max_request_bytes)
    app.add_middleware(ContainErrors)
    app.add_middleware(SecurityHeaders, form_origins=oidc_origins(settings))
    app.add_middleware(ObserveRequests, log_access=settings.log_format == "json")

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
        # error shape; the web pages keep the framework's own answers, but for a body over the limit (BodyLimit).
        if not request.url.path.startswith(API_PREFIX) and exc.status_code != PayloadTooLarge.status_code:
            return await http_exception_handler(request, exc)
        code = {400: "bad_request", 404: "not_found", 405: "method_not_allowed", 413: PayloadTooLarge.code}.get(
            exc.status_code, "http_error"
        )
        return JSONResponse(
            {"error": code, "detail": str(exc.detail)}, status_code=exc.status_code, headers=exc.headers
        )

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = [f"{'.'.join(str(p) for p in err.get('loc', ()))}: {err.get('msg', '')}" for err in exc.errors()]
        return JSONResponse({"error": "invalid_input", "detail": "; ".join(problems)}, status_code=422)

    @app.get(f"{API_PREFIX}/health", tags=["meta"], dependencies=[Depends(rule(Permission.PUBLIC))])
    def health() -> dict[str, str]:
        """Liveness: the process answers (a supervisor restarts it when this fails)."""
        return {"status": "ok", "version": __version__}

    @app.get(
        f"{API_PREFIX}/health/ready",
        tags=["meta"],
        dependencies=[Depends(rule(Permission.PUBLIC))],
        responses={503: {"description": "Not ready: a check failed (each check says why)"}},
    )
    def ready() -> JSONResponse:
        """Readiness: the store answers, its schema is this version's, the portal relay's lag and the last sync run
        are within the settings' limits; 503 otherwise (a load balancer stops sending requests here)."""
        verdict = ops_health.readiness(app.state.engine, settings)
        return JSONResponse(verdict.as_json(), status_code=200 if verdict.ok else 503)

    for name in ROUTERS:
        app.include_router(importlib.import_module(name).router, prefix=API_PREFIX)
    from hopnhat.continuity.endpoints import prometheus
    from hopnhat.identity import endpoints as identity_endpoints
    from hopnhat.web import pages

    app.include_router(identity_endpoints.router, prefix=API_PREFIX)
    # Prometheus scrapes here with a token (bearer_token in its scrape config): the gauges name systems and
    # incidents, which is the operators' business, not the public's.
    def metrics(session: SessionDep) -> Response:
        # The monitor's gauges (continuity), then the store's and this worker's request latency (operations).
        monitor = prometheus(session)
        body = bytes(monitor.body) + ops_health.render(app.state.engine)
        return Response(body, media_type=monitor.media_type)

    app.add_api_route(
        "/metrics",
        metrics,
        methods=["GET"],
        include_in_schema=False,
        dependencies=[Depends(rule(Permission.METRICS))],
    )
    _docs(app)
    pages.mount(app)
    from hopnhat.web import calendar_pages

    app.include_router(calendar_pages.router)

    from hopnhat.web import officer

    app.include_router(officer.router)
    return app


AUDIT_SEAL_EVERY = 5.0
"""Seconds between two sealing steps of the audit log: how long a new entry stays outside the chain."""


async def _seal_audit(app: FastAPI) -> None:
    """Chain the audit entries written by every worker, off the requests' path (one sealer at a time, under a lock)."""
    from starlette.concurrency import run_in_threadpool

    from hopnhat.identity import audit

    settings: Settings = app.state.settings
    while True:
        await asyncio.sleep(AUDIT_SEAL_EVERY)
        try:
            await run_in_threadpool(audit.seal_now, app.state.engine, settings.audit_key)
        except audit.AuditBroken as exc:
            log.error("audit sealing stopped: %s", exc.detail)  # sequence numbers only, no personal data
        except Exception as exc:  # the next step retries; never a traceback with data in the log
            log.warning("audit sealing failed this time: %s", type(exc).__name__)


async def _seal_last(app: FastAPI) -> None:
    from starlette.concurrency import run_in_threadpool

    from hopnhat.identity import audit

    try:
        await run_in_threadpool(audit.seal_now, app.state.engine, app.state.settings.audit_key)
    except Exception as exc:  # the next start seals them: an unsealed entry is kept, never lost
        log.warning("audit sealing at shutdown failed: %s", type(exc).__name__)


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


class ContainErrors:
    """Pure ASGI: an unexpected error becomes 500 ``internal_error`` and one log line with its type, the path and the
    stack's frames, never its message: that may quote the request (SQLAlchemy's quotes the statement's parameters, an
    applicant's name, ID number, phone and address). Without it the error would reach Starlette's outermost
    middleware, which answers 500 but then re-raises to the server, and uvicorn logs the whole traceback, message
    and all. An error after the answer started is logged the same way; the server then drops the connection."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def watch(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, watch)
        except Exception as exc:
            frames = _frames(exc)
            log.error("unexpected %s on %s %r\n%s", type(exc).__name__, scope.get("method"), scope.get("path"), frames)
            if not started:
                body = {"error": "internal_error", "detail": "unexpected server error"}
                await JSONResponse(body, status_code=500)(scope, receive, send)


def _frames(exc: BaseException) -> str:
    """Where an error came from, for the log: hopnhat's own frames and the innermost one (file, line, function and
    source line), never the error's message nor any local value."""
    stack = traceback.extract_tb(exc.__traceback__)
    kept = [frame for frame in stack if f"{os.sep}hopnhat{os.sep}" in frame.filename]
    if stack and (not kept or kept[-1] is not stack[-1]):
        kept.append(stack[-1])
    return "".join(traceback.format_list(kept))


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
