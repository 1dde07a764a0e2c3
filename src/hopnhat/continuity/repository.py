"""Queries of the continuity part."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from hopnhat.continuity.models import (
    Center,
    Heartbeat,
    Incident,
    MaintenanceWindow,
    PlanTask,
    Probe,
    ProbeResult,
    System,
)
from hopnhat.registry.models import Agency, AgencyKind


def systems(session: Session) -> Sequence[System]:
    return session.scalars(select(System).order_by(System.code)).all()


def system_by_code(session: Session, code: str) -> System | None:
    return session.scalar(select(System).where(System.code == code))


def probes(session: Session, system_id: int | None = None, enabled_only: bool = False) -> Sequence[Probe]:
    query = select(Probe).order_by(Probe.name)
    if system_id is not None:
        query = query.where(Probe.system_id == system_id)
    if enabled_only:
        query = query.where(Probe.enabled.is_(True))
    return session.scalars(query).all()


def probe_by_name(session: Session, name: str) -> Probe | None:
    return session.scalar(select(Probe).where(Probe.name == name))


def open_incident(session: Session, system_id: int) -> Incident | None:
    return session.scalar(
        select(Incident).where(Incident.system_id == system_id, Incident.closed_at.is_(None)).order_by(Incident.id)
    )


def incidents(session: Session, open_only: bool = False, system_id: int | None = None) -> Sequence[Incident]:
    query = select(Incident).order_by(Incident.opened_at.desc(), Incident.id.desc())
    if open_only:
        query = query.where(Incident.closed_at.is_(None))
    if system_id is not None:
        query = query.where(Incident.system_id == system_id)
    return session.scalars(query).all()


def in_maintenance(session: Session, system_id: int, at: datetime) -> bool:
    return (
        session.scalar(
            select(MaintenanceWindow.id).where(
                MaintenanceWindow.system_id == system_id,
                MaintenanceWindow.starts_at <= at,
                MaintenanceWindow.ends_at >= at,
            )
        )
        is not None
    )


def heartbeat(session: Session, name: str) -> Heartbeat | None:
    return session.get(Heartbeat, name)


def results(session: Session, system_id: int, since: datetime, until: datetime) -> Sequence[ProbeResult]:
    return session.scalars(
        select(ProbeResult)
        .where(ProbeResult.system_id == system_id, ProbeResult.at >= since, ProbeResult.at < until)
        .order_by(ProbeResult.at)
    ).all()


def last_result(session: Session, system_id: int) -> ProbeResult | None:
    return session.scalar(
        select(ProbeResult).where(ProbeResult.system_id == system_id).order_by(ProbeResult.at.desc()).limit(1)
    )


def tasks(session: Session) -> Sequence[PlanTask]:
    return session.scalars(select(PlanTask).order_by(PlanTask.deadline, PlanTask.code)).all()


def task_by_code(session: Session, code: str) -> PlanTask | None:
    return session.scalar(select(PlanTask).where(PlanTask.code == code))


def centers(session: Session) -> Sequence[Center]:
    return session.scalars(select(Center).order_by(Center.level.desc(), Center.code)).all()


def center_by_code(session: Session, code: str) -> Center | None:
    """The center with commune code ``code`` or, failing that, with agency code ``code`` (the two never collide:
    a commune code is digits only, an agency code is dotted)."""
    center = session.scalar(select(Center).where(Center.code == code))
    return center if center is not None else session.scalar(select(Center).where(Center.agency_code == code))


def centers_by_agency_code(session: Session, codes: Iterable[str]) -> dict[str, Center]:
    wanted = sorted(set(codes))
    if not wanted:
        return {}
    out: dict[str, Center] = {}
    for center in session.scalars(select(Center).where(Center.agency_code.in_(wanted))):
        if center.agency_code is not None:
            out[center.agency_code] = center
    return out


def service_center_agency_codes(session: Session) -> dict[str, str]:
    """Unit code -> agency code of the registry's service center for the latest unit bearing that code (a reused
    code has several periods; the later one wins)."""
    rows = session.execute(
        select(Agency.unit_code, Agency.code)
        .where(Agency.kind == AgencyKind.SERVICE_CENTER.value)
        .order_by(Agency.unit_valid_from, Agency.valid_from, Agency.code)
    )
    return {unit_code: code for unit_code, code in rows if unit_code is not None}
