"""HTTP API of settlement: intake, transitions, officer view, due lists, reports and the public lookup."""

from __future__ import annotations

import asyncio
import threading
import time
from collections import deque
from datetime import UTC, date, datetime

from fastapi import APIRouter, Request, Response
from sqlalchemy import Engine
from starlette.concurrency import run_in_threadpool

from hopnhat.config import Settings
from hopnhat.deps import SessionDep, SettingsDep
from hopnhat.errors import RateLimited
from hopnhat.settlement import reports, service
from hopnhat.settlement.schemas import DossierOut, DueItem, IntakeIn, PublicDossierOut, ReportRow, TransitionIn

router = APIRouter(tags=["settlement"])


class SlidingWindow:
    """Per-client limit over the last 60 seconds, kept in this process's memory.

    Per process: under ``hopnhat serve --workers N`` each worker counts on its own, so a client whose connections
    land on different workers may make up to N times the limit. That still stops enumeration of codes at a bounded
    rate; an exact limit across workers needs a shared counter (see benchmarks/settlement/README.md)."""

    def __init__(self) -> None:
        self._hits: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def allow(self, key: str, limit: int, now: float | None = None) -> bool:
        t = time.monotonic() if now is None else now
        with self._lock:
            hits = self._hits.setdefault(key, deque())
            while hits and hits[0] <= t - 60:
                hits.popleft()
            if len(hits) >= limit:
                return False
            hits.append(t)
            if len(self._hits) > 100_000:  # bound memory under a scan from many addresses
                self._hits = {k: v for k, v in self._hits.items() if v and v[-1] > t - 60}
            return True


def lookup_limiter(request: Request) -> SlidingWindow:
    """The one window per app that counts public lookups, through the API and the web page alike."""
    limiter = getattr(request.app.state, "settlement_limiter", None)
    if limiter is None:
        limiter = SlidingWindow()
        request.app.state.settlement_limiter = limiter
    assert isinstance(limiter, SlidingWindow)
    return limiter


def _lookup_gate(request: Request) -> asyncio.Semaphore:
    """As many lookups in flight as the pool has connections. Without it, up to 40 thread-pool threads queue on the
    pool's lock, which wakes them in no particular order: a few requests wait seconds while others pass (a p99 of
    over a second at 50 clients). The event loop's semaphore wakes its waiters in arrival order."""
    gate = getattr(request.app.state, "lookup_gate", None)
    if gate is None:
        pool = request.app.state.engine.pool
        size = pool.size() if hasattr(pool, "size") else 5
        gate = asyncio.Semaphore(max(1, int(size)))
        request.app.state.lookup_gate = gate
    assert isinstance(gate, asyncio.Semaphore)
    return gate


@router.post("/dossiers", response_model=DossierOut, status_code=201)
def intake(body: IntakeIn, session: SessionDep, settings: SettingsDep) -> DossierOut:
    cal = service.load_calendar(session)
    return service.dossier_out(service.intake(session, body, cal, settings.province_code))


@router.get("/dossiers/{code}", response_model=DossierOut)
def show(code: str, session: SessionDep) -> DossierOut:
    return service.dossier_out(service.get_dossier(session, code))


@router.post("/dossiers/{code}/transitions", response_model=DossierOut)
def change(code: str, body: TransitionIn, session: SessionDep) -> DossierOut:
    cal = service.load_calendar(session)
    d = service.change_status(
        session, code, body.to, actor=body.actor, calendar=cal, note=body.note, due_at=body.due_at, at=body.at
    )
    return service.dossier_out(d)


@router.get("/settlement/overdue", response_model=list[DueItem])
def overdue(session: SessionDep, center: str | None = None) -> list[DueItem]:
    return service.overdue(session, datetime.now(UTC), center)


@router.get("/settlement/due-soon", response_model=list[DueItem])
def due_soon(session: SessionDep, center: str | None = None, hours: float = 8.0) -> list[DueItem]:
    return service.due_soon(session, datetime.now(UTC), service.load_calendar(session), hours, center)


@router.get("/settlement/reports", response_model=list[ReportRow])
def report(
    session: SessionDep, start: date, end: date, center: str | None = None, format: str = "json"
) -> list[ReportRow] | Response:
    rows = service.report(session, start, end, service.load_calendar(session), center)
    if format == "json":
        return rows
    media = "text/csv" if format == "csv" else "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    return Response(reports.render(rows, format), media_type=media)


def _public_json(engine: Engine, code: str) -> bytes:
    # One statement needs no transaction: autocommit spares the BEGIN and ROLLBACK round trips, which cost more than
    # the indexed select itself on a loaded machine.
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        return service.public_view(conn, code).model_dump_json().encode()


@router.get(
    "/public/dossiers/{code}",
    response_model=PublicDossierOut,
    responses={404: {"description": "No dossier has this code"}, 429: {"description": "Too many lookups"}},
)
async def public_lookup(code: str, request: Request) -> Response:
    """Public status of one dossier, rate-limited per client address.

    Async, without the session and settings dependencies, because this is the one endpoint citizens hit in bulk:
    each sync dependency and a sync endpoint cost a hop through the thread pool, so the limiter runs on the event
    loop and only the database read goes to a worker thread, once. The body is serialised once, by Pydantic."""
    settings: Settings = request.app.state.settings
    client = request.client.host if request.client else "unknown"
    if not lookup_limiter(request).allow(client, settings.public_rate_limit_per_minute):
        raise RateLimited("too many lookups from this address; try again in a minute")
    async with _lookup_gate(request):
        body = await run_in_threadpool(_public_json, request.app.state.engine, code)
    return Response(body, media_type="application/json")
