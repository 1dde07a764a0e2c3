"""The continuity API under ``/api/v1/continuity``: systems, probes, incidents, uptime, plan, centers, metrics."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Response, status

from hopnhat.bounds import Day
from hopnhat.config import VN_TZ
from hopnhat.continuity import centers, metrics, plan, service
from hopnhat.continuity import repository as repo
from hopnhat.continuity.netguard import AllowList
from hopnhat.continuity.schemas import (
    IncidentOut,
    MaintenanceIn,
    NoteIn,
    ProbeIn,
    ProbeOut,
    SystemIn,
    SystemOut,
    SystemPatch,
    TaskIn,
    TaskStatusIn,
    UptimeDay,
)
from hopnhat.db import utcnow
from hopnhat.deps import SessionDep, SettingsDep
from hopnhat.identity import audit
from hopnhat.identity.http import rule
from hopnhat.identity.principal import Principal
from hopnhat.identity.roles import Permission
from hopnhat.limits_http import RowId

router = APIRouter(prefix="/continuity", tags=["continuity"])


def _today() -> date:
    return utcnow().astimezone(VN_TZ).date()


@router.get("/systems", dependencies=[Depends(rule(Permission.CONTINUITY_READ))], response_model=list[SystemOut])
def list_systems(session: SessionDep) -> Any:
    return service.list_systems(session)


Writer = Annotated[Principal, Depends(rule(Permission.CONTINUITY_WRITE))]


def _audited(session: SessionDep, who: Principal, action: str, kind: str, key: str, before: Any, after: Any) -> None:
    """Administrative changes go to the audit log with the fields that changed (no personal data here)."""
    old = before if isinstance(before, dict) else {}
    audit.record(session, who, action, object_type=kind, object_id=key, changes=audit.diff(old, after) or None)


@router.post("/systems", response_model=SystemOut, status_code=status.HTTP_201_CREATED)
def create_system(session: SessionDep, body: SystemIn, who: Writer) -> Any:
    made = service.create_system(session, body)
    _audited(session, who, "system.create", "system", body.code, None, body.model_dump(mode="json"))
    return made


@router.get("/systems/{code}", dependencies=[Depends(rule(Permission.CONTINUITY_READ))], response_model=SystemOut)
def get_system(session: SessionDep, code: str) -> Any:
    return service.get_system(session, code)


@router.patch("/systems/{code}", response_model=SystemOut)
def patch_system(session: SessionDep, code: str, body: SystemPatch, who: Writer) -> Any:
    before = SystemOut.model_validate(service.get_system(session, code)).model_dump(mode="json")
    patched = service.patch_system(session, code, body)
    after = SystemOut.model_validate(patched).model_dump(mode="json")
    _audited(session, who, "system.change", "system", code, before, after)
    return patched


@router.get(
    "/status",
    dependencies=[Depends(rule(Permission.CONTINUITY_READ))],
)
def system_status(session: SessionDep) -> list[dict[str, Any]]:
    """Up / down / unknown per system."""
    return [s.__dict__ for s in service.system_status(session)]


@router.get(
    "/systems/{code}/probes", dependencies=[Depends(rule(Permission.CONTINUITY_READ))], response_model=list[ProbeOut]
)
def list_probes(session: SessionDep, code: str) -> Any:
    return repo.probes(session, service.get_system(session, code).id)


@router.put("/systems/{code}/probes", response_model=ProbeOut)
def put_probe(
    session: SessionDep,
    settings: SettingsDep,
    code: str,
    body: ProbeIn,
    who: Annotated[Principal, Depends(rule(Permission.PROBES))],
) -> Any:
    """Create or overwrite a probe; 422 ``target_refused`` when its target is outside ``probe_allowed_networks``."""
    probe = service.add_probe(session, code, body, AllowList.parse(settings.probe_allowed_networks))
    _audited(session, who, "probe.save", "probe", body.name, None, body.model_dump(mode="json"))
    return probe


@router.post("/systems/{code}/maintenance", status_code=status.HTTP_201_CREATED)
def add_maintenance(session: SessionDep, code: str, body: MaintenanceIn, who: Writer) -> dict[str, Any]:
    window = service.add_maintenance(session, code, body.starts_at, body.ends_at, body.reason)
    _audited(session, who, "maintenance.create", "system", code, None, body.model_dump(mode="json"))
    return {"id": window.id, "starts_at": window.starts_at, "ends_at": window.ends_at, "reason": window.reason}


@router.get(
    "/systems/{code}/uptime", dependencies=[Depends(rule(Permission.CONTINUITY_READ))], response_model=list[UptimeDay]
)
def uptime(
    session: SessionDep,
    code: str,
    first: Annotated[Day | None, Query(alias="from")] = None,
    last: Annotated[Day | None, Query(alias="to")] = None,
) -> Any:
    last = last or _today()
    return service.uptime(session, code, first or last - timedelta(days=6), last)


@router.post(
    "/heartbeats/{name}", dependencies=[Depends(rule(Permission.HEARTBEAT))], status_code=status.HTTP_204_NO_CONTENT
)
def heartbeat(session: SessionDep, name: Annotated[str, Path(max_length=120)]) -> Response:
    """A job reports in; the heartbeat probe whose target is ``name`` reads it."""
    service.report_heartbeat(session, name)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/incidents", dependencies=[Depends(rule(Permission.CONTINUITY_READ))], response_model=list[IncidentOut])
def incidents(session: SessionDep, open_only: bool = False, system: str | None = None) -> Any:
    return service.list_incidents(session, open_only, system)


@router.post("/incidents/{incident_id}/notes", response_model=IncidentOut)
def add_note(session: SessionDep, incident_id: RowId, body: NoteIn, who: Writer) -> Any:
    incident = service.add_incident_note(session, incident_id, body.note)
    # The note's text is free text: recorded as added, not copied.
    _audited(session, who, "incident.note", "incident", str(incident_id), None, {"note": "added"})
    return incident


@router.get(
    "/tasks",
    dependencies=[Depends(rule(Permission.CONTINUITY_READ))],
)
def tasks(
    session: SessionDep,
    view: Literal["all", "overdue", "at_risk"] = "all",
    horizon_days: Annotated[int, Query(ge=0, le=3650)] = 7,
) -> list[dict[str, Any]]:
    """All tasks, or ``view=overdue`` / ``view=at_risk``."""
    rows = plan.evaluate(session, _today(), horizon_days)
    if view == "overdue":
        return [r for r in rows if r["overdue"]]
    if view == "at_risk":
        return [r for r in rows if r["at_risk"]]
    return rows


@router.put("/tasks/{code}")
def put_task(
    session: SessionDep, code: Annotated[str, Path(min_length=1, max_length=40)], body: TaskIn, who: Writer
) -> dict[str, Any]:
    task = plan.upsert_task(session, body.model_copy(update={"code": code}))
    _audited(session, who, "task.save", "task", code, None, body.model_dump(mode="json"))
    return {"code": task.code, "status": task.status, "deadline": task.deadline}


@router.patch("/tasks/{code}")
def set_task_status(session: SessionDep, code: str, body: TaskStatusIn, who: Writer) -> dict[str, Any]:
    task = plan.set_status(session, code, body.status, body.on or _today())
    _audited(session, who, "task.status", "task", code, None, {"status": task.status, "done_on": str(task.done_on)})
    return {"code": task.code, "status": task.status, "done_on": task.done_on}


@router.get(
    "/centers",
    dependencies=[Depends(rule(Permission.CENTERS))],
)
def list_centers(session: SessionDep) -> list[dict[str, Any]]:
    return [
        {
            "code": c.code,
            "agency_code": c.agency_code,
            "name": c.name,
            "level": c.level,
            "unit_code": c.unit_code,
            "address": c.address,
        }
        for c in repo.centers(session)
    ]


@router.get(
    "/readiness",
    dependencies=[Depends(rule(Permission.CENTERS))],
)
def readiness(
    session: SessionDep,
    center: str | None = None,
    staff_by: Day = date(2025, 6, 30),
    regulation_by: Day = date(2025, 7, 10),
    require_equipment: bool = True,
) -> list[dict[str, Any]]:
    """Readiness of every center (or one) against configurable deadlines; staff names are never included."""
    return centers.readiness(session, centers.ReadinessRules(staff_by, regulation_by, require_equipment), center)


@router.get(
    "/overview",
    dependencies=[Depends(rule(Permission.CONTINUITY_READ))],
)
def overview(session: SessionDep) -> dict[str, Any]:
    """Counts for the dashboard: systems up/down, open incidents, overdue tasks, ready centers."""
    return service.overview(session, _today())


@router.get("/metrics", dependencies=[Depends(rule(Permission.METRICS))], include_in_schema=False)
def prometheus(session: SessionDep) -> Response:
    service.refresh_incident_gauge(session)
    body, content_type = metrics.render()
    return Response(body, media_type=content_type)
