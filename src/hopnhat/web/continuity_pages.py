"""The continuity part's pages: systems (status, incidents, uptime, inventory), the transition plan and the service
centers' readiness. Each calls :mod:`hopnhat.continuity` by import; rows are the dataclasses below."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import Depends, Request
from fastapi.responses import Response
from markupsafe import Markup
from sqlalchemy.orm import Session

from hopnhat.config import VN_TZ
from hopnhat.continuity import centers as center_rules
from hopnhat.continuity import plan
from hopnhat.continuity import repository as continuity_repo
from hopnhat.continuity import service as continuity
from hopnhat.continuity.models import System
from hopnhat.deps import SessionDep
from hopnhat.i18n import translate
from hopnhat.identity.principal import Principal
from hopnhat.sync import cutover
from hopnhat.web import charts
from hopnhat.web.common import guard, lang_of, panel, render


@dataclass(frozen=True)
class SystemState:
    """A system's state from its last probe results and open incidents (``state``: up, down or unknown)."""

    name: str
    code: str
    state: str
    last_check: datetime | None
    detail: str
    open_incident_id: int | None


@dataclass(frozen=True)
class SystemStates:
    """The systems' states and how many of them were measured: a system never probed is not "up"."""

    rows: list[SystemState]

    def count(self, state: str) -> int:
        return sum(1 for r in self.rows if r.state == state)

    @property
    def measured(self) -> int:
        return len(self.rows) - self.count("unknown")


def system_states(session: Session) -> SystemStates:
    # A system that is down comes first, then one never measured: what an operator acts on.
    order = {"down": 0, "unknown": 1, "up": 2}
    rows = [
        SystemState(s.name, s.code, s.state, s.last_check, s.detail, s.open_incident_id)
        for s in continuity.system_status(session)
    ]
    return SystemStates(sorted(rows, key=lambda r: (order.get(r.state, 3), r.name)))


@dataclass(frozen=True)
class IncidentRow:
    system: str
    state: str
    opened_at: datetime
    closed_at: datetime | None
    cause: str | None
    notes: str | None


def incidents(session: Session) -> list[IncidentRow]:
    names = {s.id: s.name for s in continuity.list_systems(session)}
    return [
        IncidentRow(
            system=names.get(i.system_id, str(i.system_id)),
            state="open" if i.closed_at is None else "closed",
            opened_at=i.opened_at,
            closed_at=i.closed_at,
            cause=i.cause,
            notes=i.notes,
        )
        for i in continuity.list_incidents(session)
    ]


@dataclass(frozen=True)
class UptimeRow:
    system: str
    day: date
    checks: int
    uptime_pct: float | None
    p50_ms: float | None
    p95_ms: float | None


_CRITICALITY_ORDER = {"critical": 0, "high": 1, "medium": 2, "low": 3}


def uptime(session: Session, days: int = 7, limit: int = 8) -> list[UptimeRow]:
    """Daily uptime % of the most critical systems over the last ``days`` Vietnam days (days with checks)."""
    last = datetime.now(VN_TZ).date()
    chosen: list[System] = sorted(
        continuity.list_systems(session), key=lambda s: (_CRITICALITY_ORDER.get(s.criticality, 9), s.code)
    )[:limit]
    rows = []
    for system in chosen:
        for day in continuity.uptime(session, system.code, last - timedelta(days=days - 1), last):
            if day["checks"]:
                rows.append(
                    UptimeRow(system.name, day["day"], day["checks"], day["uptime_pct"], day["p50_ms"], day["p95_ms"])
                )
    return rows


@dataclass(frozen=True)
class SystemRow:
    name: str
    code: str
    former_province: str
    criticality: str
    decision: str
    target_system: str
    target_date: date | None
    status: str


def systems(session: Session) -> list[SystemRow]:
    return [
        SystemRow(
            s.name, s.code, s.former_province, s.criticality, s.decision, s.target_system, s.target_date, s.status
        )
        for s in continuity.list_systems(session)
    ]


def uptime_chart(rows: list[UptimeRow], title: str) -> Markup | None:
    """A line per system (up to five) of its daily uptime %."""
    if not rows:
        return None
    days = sorted({r.day for r in rows})
    per_system: dict[str, dict[date, float]] = {}
    for r in rows:
        if r.uptime_pct is not None:
            per_system.setdefault(r.system, {})[r.day] = r.uptime_pct
    series = [(name, [values.get(d, 0.0) for d in days]) for name, values in list(per_system.items())[:5]]
    labels = [d.strftime("%d/%m") for d in days]
    return charts.line_chart(title, labels, series, unit="%") if series else None


def systems_page(
    request: Request, session: SessionDep, user: Annotated[Principal, Depends(guard("systems"))]
) -> Response:
    lang = lang_of(request)
    states = system_states(session)
    uptime_rows = uptime(session)
    panels = [
        panel(request, translate("status", lang), "status", lambda: states.rows),
        panel(request, translate("incidents", lang), "incidents", lambda: incidents(session)),
        panel(request, translate("uptime", lang), "uptime", lambda: uptime_rows),
        panel(request, translate("systems", lang), "systems", lambda: systems(session)),
    ]
    chart = uptime_chart(uptime_rows, translate("uptime", lang))
    return render(
        request,
        "panels.html",
        user,
        "systems",
        title=translate("systems", lang),
        panels=panels,
        charts=[chart] if chart else [],
    )


# --- the transition plan -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TaskRow:
    """A task of the transition plan with the linked source's latest cut-over verdict as two plain columns (a
    nested object reads badly in a cell); the verdict's reasons are already among the task's reasons."""

    code: str
    title: str
    responsible_unit: str
    deadline: date | None
    status: str
    depends_on: list[str]
    cutover_source: str | None
    overdue: bool
    at_risk: bool
    reasons: list[str]
    cutover_verdict: str | None
    cutover_checked_at: datetime | None


def plan_tasks(session: Session, view: str = "all") -> list[TaskRow]:
    rows = plan.evaluate(session, datetime.now(VN_TZ).date())
    if view in ("overdue", "at_risk"):
        rows = [r for r in rows if r.get(view)]
    out = []
    for row in rows:
        verdict = row.get("cutover")
        out.append(
            TaskRow(
                code=row["code"],
                title=row["title"],
                responsible_unit=row["responsible_unit"],
                deadline=row["deadline"],
                status=row["status"],
                depends_on=row["depends_on"],
                cutover_source=row["cutover_source"],
                overdue=row["overdue"],
                at_risk=row["at_risk"],
                reasons=row["reasons"],
                cutover_verdict=verdict_word(verdict["ready"]) if verdict else None,
                cutover_checked_at=verdict["checked_at"] if verdict else None,
            )
        )
    return out


def verdict_word(ready: bool) -> str:
    return "ready" if ready else "not_ready"


@dataclass(frozen=True)
class VerdictRow:
    source: str
    verdict: str
    reasons: list[str]
    checked_at: datetime


def cutover_verdicts(session: Session) -> list[VerdictRow]:
    """The latest cut-over verdict per source as ``hopnhat cutover check`` (or the demo) recorded it, with the time
    it was computed. A page never computes one: that reads every legacy source whole (seconds to minutes)."""
    return [
        VerdictRow(v["source"], verdict_word(v["ready"]), v["reasons"], v["checked_at"])
        for v in cutover.latest_verdicts(session)
    ]


def plan_page(request: Request, session: SessionDep, user: Annotated[Principal, Depends(guard("plan"))]) -> Response:
    lang = lang_of(request)
    panels = [
        panel(
            request,
            translate("verdicts", lang),
            "verdicts",
            lambda: cutover_verdicts(session),
            empty=translate("no_verdicts", lang),
        ),
        panel(request, translate("overdue_tasks", lang), "overdue", lambda: plan_tasks(session, "overdue")),
        panel(request, translate("at_risk_tasks", lang), "at_risk", lambda: plan_tasks(session, "at_risk")),
        panel(request, translate("plan", lang), "plan", lambda: plan_tasks(session)),
    ]
    return render(request, "panels.html", user, "plan", title=translate("plan", lang), panels=panels)


# --- service centers -----------------------------------------------------------------------------------------------


def center_links(row: dict[str, Any]) -> dict[str, str]:
    """A center's name links to its dossiers (by agency code, the value dossiers carry); a center whose code is
    not issued yet has no dossiers to show."""
    code = row.get("agency_code")
    return {"name": f"/dossiers?{urlencode({'center': code})}"} if code else {}


@dataclass(frozen=True)
class ReadinessRow:
    """A center's readiness: staff list, operating regulation and equipment, with the reasons it is not ready."""

    name: str
    agency_code: str | None
    ready: bool
    staff_ok: bool
    regulation_ok: bool
    equipment_ok: bool
    staff_count: int
    missing_equipment: list[str]
    reasons: list[str]


def readiness(session: Session) -> list[ReadinessRow]:
    """Every center's readiness, the centers not ready first."""
    rows = [
        ReadinessRow(
            name=r["name"],
            agency_code=r.get("agency_code"),
            ready=r["ready"],
            staff_ok=r["staff_ok"],
            regulation_ok=r["regulation_ok"],
            equipment_ok=r["equipment_ok"],
            staff_count=r["staff_count"],
            missing_equipment=list(r["missing_equipment"]),
            reasons=r["reasons"],
        )
        for r in center_rules.readiness(session)
    ]
    return sorted(rows, key=lambda r: r.ready)


@dataclass(frozen=True)
class CenterRow:
    name: str
    code: str
    agency_code: str | None
    level: str | None
    address: str | None


def centers(session: Session) -> list[CenterRow]:
    return [CenterRow(c.name, c.code, c.agency_code, c.level, c.address) for c in continuity_repo.centers(session)]


def centers_page(
    request: Request, session: SessionDep, user: Annotated[Principal, Depends(guard("centers"))]
) -> Response:
    lang = lang_of(request)
    panels = [
        # The equipment missing is among the reasons already: a column of its own would say it twice.
        panel(
            request,
            translate("readiness", lang),
            "readiness",
            lambda: readiness(session),
            links=center_links,
            drop=("missing_equipment",),
        ),
        panel(request, translate("centers", lang), "centers", lambda: centers(session), links=center_links),
    ]
    return render(request, "panels.html", user, "centers", title=translate("centers", lang), panels=panels)


__all__ = [
    "CenterRow",
    "IncidentRow",
    "ReadinessRow",
    "SystemRow",
    "SystemState",
    "SystemStates",
    "TaskRow",
    "UptimeRow",
    "VerdictRow",
    "center_links",
    "centers",
    "centers_page",
    "cutover_verdicts",
    "incidents",
    "plan_page",
    "plan_tasks",
    "readiness",
    "system_states",
    "systems",
    "systems_page",
    "uptime",
]
