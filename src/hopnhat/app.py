"""``create_app()``: the FastAPI application with every part's router, JSON errors and the web pages.

The engine is made here (never at import time) and kept in ``app.state``; a request owns its transaction through
:func:`hopnhat.deps.get_session` and commits once.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from sqlalchemy import Engine
from starlette.exceptions import HTTPException as StarletteHTTPException

from hopnhat import __version__
from hopnhat.config import Settings, get_settings
from hopnhat.db import ensure_schema, make_engine
from hopnhat.errors import HopnhatError

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
        description="Registry, consolidation, settlement and continuity of the merged Thành phố Cần Thơ.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.engine = engine

    @app.exception_handler(HopnhatError)
    async def _hopnhat_error(_request: Request, exc: HopnhatError) -> JSONResponse:
        return JSONResponse({"error": exc.code, "detail": exc.detail}, status_code=exc.status_code)

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

    @app.get(f"{API_PREFIX}/health", tags=["meta"])
    def health() -> dict[str, str]:
        """Liveness: the process answers."""
        return {"status": "ok", "version": __version__}

    for name in ROUTERS:
        app.include_router(importlib.import_module(name).router, prefix=API_PREFIX)
    # Prometheus scrapes here; the continuity part owns the registry of gauges and counters.
    from hopnhat.continuity.metrics import metrics_asgi_app
    from hopnhat.web import pages

    app.mount("/metrics", metrics_asgi_app())
    pages.mount(app)
    return app


__all__ = ["API_PREFIX", "create_app"]
