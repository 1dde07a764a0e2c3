"""The registry's REST API under ``/api/v1/registry``: read-only queries (loading is a CLI job)."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Response

from hopnhat.deps import SessionDep
from hopnhat.identity.http import rule
from hopnhat.identity.roles import Permission
from hopnhat.registry import service
from hopnhat.registry.schemas import AgencyOut, AgencyResolution, LineageOut, SearchOut, StatsOut, UnitOut

router = APIRouter(prefix="/registry", tags=["registry"])

OnQuery = Annotated[date | None, Query(description="The day asked about (YYYY-MM-DD); today when omitted.")]
Level = Literal["province", "district", "commune"]
MEDIA = {
    "csv": "text/csv; charset=utf-8",
    "json": "application/json",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


@router.get("/units/{code}", dependencies=[Depends(rule(Permission.PUBLIC))], response_model=UnitOut)
def show_unit(session: SessionDep, code: str, on: OnQuery = None) -> UnitOut:
    """The unit that bore ``code`` on the day (codes are reused: 31120 was Phường An Hòa until 2025-06-30)."""
    return service.unit_out(service.show(session, code, on or date.today()))


@router.get("/units/{code}/successors", dependencies=[Depends(rule(Permission.PUBLIC))], response_model=LineageOut)
def unit_successors(session: SessionDep, code: str, on: Annotated[date | None, Query()] = None) -> LineageOut:
    """Where the unit went (kind whole, part or unchanged). Without ``on``: the last period of the code that ended."""
    return service.successors(session, code, on)


@router.get("/units/{code}/predecessors", dependencies=[Depends(rule(Permission.PUBLIC))], response_model=LineageOut)
def unit_predecessors(session: SessionDep, code: str, on: Annotated[date | None, Query()] = None) -> LineageOut:
    """Where the unit came from. Without ``on``: the newest period of the code."""
    return service.predecessors(session, code, on)


@router.get("/search", dependencies=[Depends(rule(Permission.PUBLIC))], response_model=SearchOut)
def search_units(
    session: SessionDep,
    q: Annotated[str, Query(description="Name as typed: diacritics, case and small typos do not matter.")],
    on: OnQuery = None,
    level: Level | None = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 10,
) -> SearchOut:
    return service.search(session, q, on or date.today(), level=level, limit=limit)


@router.get("/stats", dependencies=[Depends(rule(Permission.PUBLIC))], response_model=StatsOut)
def unit_stats(
    session: SessionDep,
    province: Annotated[list[str], Query(description="Province code(s), repeated or comma-separated.")],
    on: OnQuery = None,
) -> StatsOut:
    return service.stats(session, province, on or date.today())


@router.get(
    "/export",
    dependencies=[Depends(rule(Permission.PUBLIC))],
    response_class=Response,
    responses={200: {"content": {m: {} for m in MEDIA.values()}, "description": "The units and lineage."}},
)
def export(
    session: SessionDep,
    on: OnQuery = None,
    format: Literal["csv", "json", "xlsx"] = "json",
    table: Literal["all", "units", "lineage", "changes"] = "all",
    province: Annotated[
        list[str] | None, Query(max_length=100, description="Only these provinces (2-digit codes); default all.")
    ] = None,
) -> Response:
    """Units active on the day and lineage in force by then, as published on the data portal. CSV holds one
    table: ask for ``table=units``, ``table=lineage`` or ``table=changes`` (the change sets since 2025-07-01, in the
    format ``registry apply-changes`` reads)."""
    day = on or date.today()
    body = service.render_export(service.export_rows(session, day, province or None), format, table, day)
    filename = f"registry-{table}-{day.isoformat()}.{format}"
    return Response(
        body, media_type=MEDIA[format], headers={"Content-Disposition": f'attachment; filename="{filename}"'}
    )


@router.get("/agencies", dependencies=[Depends(rule(Permission.PUBLIC))], response_model=list[AgencyOut])
def list_agencies(
    session: SessionDep,
    on: Annotated[date | None, Query(description="Only agencies open on that day.")] = None,
    kind: Literal["people_committee", "department", "service_center", "other"] | None = None,
) -> list[AgencyOut]:
    return service.list_agencies(session, day=on, kind=kind)


@router.get("/agencies/{code}", dependencies=[Depends(rule(Permission.PUBLIC))], response_model=AgencyResolution)
def resolve_agency(session: SessionDep, code: str, on: OnQuery = None) -> AgencyResolution:
    """An agency code, old or current, and the agency that carries its work on the day (following successors)."""
    return service.resolve_agency(session, code, on or date.today())


__all__ = ["router"]
