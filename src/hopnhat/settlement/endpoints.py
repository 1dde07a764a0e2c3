"""HTTP API of settlement: intake, transitions, officer view, due lists, reports and the public lookup."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response
from sqlalchemy import Engine
from starlette.concurrency import run_in_threadpool

from hopnhat.bounds import Day
from hopnhat.config import Settings
from hopnhat.deps import SessionDep, SettingsDep
from hopnhat.errors import ErrorOut, RateLimited
from hopnhat.identity.http import client_address, limiter, public_async, rule
from hopnhat.identity.principal import Principal
from hopnhat.identity.roles import Permission
from hopnhat.settlement import reports, service
from hopnhat.settlement.schemas import (
    ActionIn,
    DossierOut,
    DueItem,
    IntakeIn,
    PublicDossierOut,
    ReportRow,
    TransitionIn,
)

router = APIRouter(tags=["settlement"])
REPORT_MEDIA = {"csv": "text/csv", "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}


def lookup_key(request: Request) -> str:
    """The key of the public lookup's allowance in the app's shared limiter: the API and the web page count in one
    allowance per client address, across every worker on the store (:mod:`hopnhat.identity.limits`)."""
    return f"lookup:{client_address(request)}"


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
def intake(
    body: IntakeIn,
    session: SessionDep,
    settings: SettingsDep,
    principal: Annotated[Principal, Depends(rule(Permission.DOSSIER_WRITE))],
) -> DossierOut:
    cal = service.load_calendar(session)
    return service.dossier_out(service.intake(session, body, cal, settings.province_code, principal=principal))


@router.get("/dossiers/{code}", response_model=DossierOut)
def show(
    code: str, session: SessionDep, principal: Annotated[Principal, Depends(rule(Permission.DOSSIER_READ))]
) -> DossierOut:
    """The officer's view with the applicant's personal data; every read is recorded in the audit log."""
    return service.view_dossier(session, code, principal)


@router.post("/dossiers/{code}/transitions", response_model=DossierOut)
def change(
    code: str,
    body: TransitionIn,
    session: SessionDep,
    principal: Annotated[Principal, Depends(rule(Permission.DOSSIER_WRITE))],
) -> DossierOut:
    cal = service.load_calendar(session)
    d = service.change_status(
        session,
        code,
        body.to,
        actor=principal.username or "",
        calendar=cal,
        note=body.note,
        due_at=body.due_at,
        principal=principal,
    )
    return service.dossier_out(d)


@router.post("/dossiers/{code}/actions", response_model=DossierOut)
def action(
    code: str,
    body: ActionIn,
    session: SessionDep,
    principal: Annotated[Principal, Depends(rule(Permission.DOSSIER_WRITE))],
) -> DossierOut:
    """One workflow action (hand-off, supplement request with its items, refusal with its reason, ...): the table
    of ``hopnhat.settlement.workflow.ACTIONS`` says which a dossier allows."""
    d, _step = service.act_on(session, code, body, principal=principal, calendar=service.load_calendar(session))
    return service.dossier_out(d)


@router.get("/settlement/overdue", response_model=list[DueItem])
def overdue(
    session: SessionDep,
    principal: Annotated[Principal, Depends(rule(Permission.DUE_LISTS))],
    center: str | None = Query(None, max_length=40),
) -> list[DueItem]:
    return service.overdue(session, datetime.now(UTC), center, principal)


@router.get("/settlement/due-soon", response_model=list[DueItem])
def due_soon(
    session: SessionDep,
    principal: Annotated[Principal, Depends(rule(Permission.DUE_LISTS))],
    center: str | None = Query(None, max_length=40),
    hours: float = Query(8.0, gt=0, le=24 * 365),
) -> list[DueItem]:
    return service.due_soon(session, datetime.now(UTC), service.load_calendar(session), hours, center, principal)


@router.get(
    "/settlement/reports",
    response_model=list[ReportRow],
    responses={200: {"content": {REPORT_MEDIA["csv"]: {}, REPORT_MEDIA["xlsx"]: {}}}},
)
def report(
    session: SessionDep,
    principal: Annotated[Principal, Depends(rule(Permission.REPORTS))],
    start: Day,
    end: Day,
    center: str | None = Query(None, max_length=40),
    format: str = Query("json", pattern="^(json|csv|xlsx)$"),
) -> list[ReportRow] | Response:
    rows = service.report(session, start, end, service.load_calendar(session), center, principal)
    if format == "json":
        return rows
    return Response(reports.render(rows, format), media_type=REPORT_MEDIA[format])


def _public_json(engine: Engine, code: str) -> bytes:
    # One statement needs no transaction: autocommit spares the BEGIN and ROLLBACK round trips, which cost more than
    # the indexed select itself on a loaded machine.
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        return service.public_view(conn, code).model_dump_json().encode()


@router.get(
    "/public/dossiers/{code}",
    response_model=PublicDossierOut,
    responses={
        404: {"model": ErrorOut, "description": "No dossier has this code"},
        429: {"model": ErrorOut, "description": "Too many lookups"},
    },
    dependencies=[Depends(public_async)],
)
async def public_lookup(code: str, request: Request) -> Response:
    """Public status of one dossier, rate-limited per client address.

    Async, without the session and settings dependencies (its rule is a no-op marker: anyone may look up),
    because this is the one endpoint citizens hit in bulk:
    each sync dependency and a sync endpoint cost a hop through the thread pool, so the limiter counts in memory on
    the event loop (its thread shares the counts) and only the database read goes to a worker thread, once. The
    body is serialised once, by Pydantic."""
    settings: Settings = request.app.state.settings
    if not limiter(request).allow(lookup_key(request), settings.public_rate_limit_per_minute):
        raise RateLimited("too many lookups from this address; try again in a minute")
    async with _lookup_gate(request):
        body = await run_in_threadpool(_public_json, request.app.state.engine, code)
    return Response(body, media_type="application/json")
