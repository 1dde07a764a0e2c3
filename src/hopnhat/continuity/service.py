"""Rules of the systems inventory and its health: probes, incidents, maintenance, heartbeats, uptime.

Functions take a Session and never commit; the caller (request, CLI command, monitor cycle) commits once.
The web pages call these directly: :func:`list_systems`, :func:`system_status`, :func:`uptime`,
:func:`list_incidents`; the plan is in :mod:`hopnhat.continuity.plan`, the centers in
:mod:`hopnhat.continuity.centers`.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy.orm import Session

from hopnhat.config import VN_TZ, get_settings
from hopnhat.continuity import metrics, netguard, probes
from hopnhat.continuity import repository as repo
from hopnhat.continuity.models import Heartbeat, Incident, MaintenanceWindow, Probe, ProbeResult, System
from hopnhat.continuity.netguard import AllowList
from hopnhat.continuity.schemas import ProbeIn, SystemIn, SystemPatch
from hopnhat.db import utcnow
from hopnhat.errors import Conflict, InvalidInput, NotFound

log = logging.getLogger(__name__)


# --- systems -------------------------------------------------------------------------------------------------------


def list_systems(session: Session) -> Sequence[System]:
    return repo.systems(session)


def get_system(session: Session, code: str) -> System:
    system = repo.system_by_code(session, code)
    if system is None:
        raise NotFound(f"system {code!r} not found")
    return system


def upsert_system(session: Session, data: SystemIn) -> tuple[System, bool]:
    """Create the system or overwrite the one with the same code; returns (system, created)."""
    system = repo.system_by_code(session, data.code)
    created = system is None
    if system is None:
        system = System(code=data.code)
        session.add(system)
    for key, value in data.model_dump(exclude={"code"}).items():
        setattr(system, key, value)
    session.flush()
    return system, created


def create_system(session: Session, data: SystemIn) -> System:
    if repo.system_by_code(session, data.code) is not None:
        raise Conflict(f"system {data.code!r} already exists")
    return upsert_system(session, data)[0]


def patch_system(session: Session, code: str, patch: SystemPatch) -> System:
    system = get_system(session, code)
    for key, value in patch.model_dump(exclude_unset=True).items():
        setattr(system, key, value)
    session.flush()
    return system


# --- probes --------------------------------------------------------------------------------------------------------


def default_allow_list() -> AllowList:
    """The allow-list of this process's settings, for callers not handed one (the inventory loader, the pages)."""
    return AllowList.parse(get_settings().probe_allowed_networks)


def check_probe_target(kind: str, target: str, allow: AllowList) -> None:
    """Refuse an http or tcp target whose host resolves to any address ``allow`` does not contain.

    Raises TargetRefused (naming the host, the address and the reason), TargetUnresolved, or InvalidInput for a
    malformed target; a heartbeat probe reaches nothing and passes. The probe checks again when it connects.
    """
    if kind == "http":
        host, port = netguard.url_endpoint(target)
    elif kind == "tcp":
        host, port = netguard.tcp_endpoint(target)
    else:
        return
    netguard.check_target(host, port, allow)


def add_probe(session: Session, system_code: str, data: ProbeIn, allow: AllowList | None = None) -> Probe:
    """Create the probe, or overwrite the one with the same name, once its target passes ``allow`` (the
    ``probe_allowed_networks`` setting, read from the environment when not given)."""
    system = get_system(session, system_code)
    if data.kind in ("http", "tcp") and not data.target:
        raise InvalidInput(f"probe {data.name!r}: a {data.kind} probe needs a target")
    if data.kind == "http" and not data.target.startswith(("http://", "https://")):
        raise InvalidInput(f"probe {data.name!r}: target must be an http:// or https:// URL")
    check_probe_target(data.kind, data.target, allow if allow is not None else default_allow_list())
    probe = repo.probe_by_name(session, data.name)
    if probe is None:
        probe = Probe(name=data.name, system_id=system.id)
        session.add(probe)
    elif probe.system_id != system.id:
        raise Conflict(f"probe {data.name!r} belongs to another system")
    for key, value in data.model_dump(exclude={"name"}).items():
        setattr(probe, key, value)
    if data.kind == "heartbeat" and not probe.target:
        probe.target = data.name
    session.flush()
    return probe


def report_heartbeat(session: Session, name: str, at: datetime | None = None) -> Heartbeat:
    """A job (sync run, portal relay) reports that it is alive; heartbeat probes whose target is ``name`` read it."""
    at = at or utcnow()
    beat = repo.heartbeat(session, name)
    if beat is None:
        beat = Heartbeat(name=name, last_seen=at)
        session.add(beat)
    else:
        beat.last_seen = max(beat.last_seen, at)
    session.flush()
    return beat


def network_check(probe: Probe, allow: AllowList) -> probes.Outcome:
    """The check of an http or tcp probe: network I/O only, no store access (safe in a worker thread). The target
    is resolved and checked against ``allow`` again here, and only a checked address is connected to."""
    if probe.kind == "http":
        return probes.http_check(
            probe.target,
            probe.expect_status,
            probe.body_contains,
            probe.max_latency_ms,
            probe.min_cert_days,
            probe.timeout_s,
            allow=allow,
        )
    return probes.tcp_check(probe.target, probe.timeout_s, probe.max_latency_ms, allow=allow)


def check(session: Session, probe: Probe, now: datetime, allow: AllowList | None = None) -> probes.Outcome:
    """Run one probe's check (network I/O for http/tcp, limited to ``allow``, by default the settings'; a store
    read for heartbeats)."""
    if probe.kind != "heartbeat":
        return network_check(probe, allow if allow is not None else default_allow_list())
    beat = repo.heartbeat(session, probe.target or probe.name)
    return probes.heartbeat_check(beat.last_seen if beat else None, probe.period_s, now)


def record(session: Session, probe: Probe, outcome: probes.Outcome, now: datetime) -> ProbeResult:
    """Store a check's result and open or close the system's incident.

    An incident opens after ``fail_threshold`` consecutive failures unless a maintenance window covers ``now``;
    it closes on the first success of that system's probe, with a note saying when it recovered.
    """
    system = session.get(System, probe.system_id)
    assert system is not None  # the foreign key guarantees it
    result = ProbeResult(
        probe_id=probe.id,
        system_id=probe.system_id,
        at=now,
        ok=outcome.ok,
        latency_ms=outcome.latency_ms,
        detail=outcome.detail[:500],
    )
    session.add(result)
    probe.last_run_at = now
    probe.consecutive_failures = 0 if outcome.ok else probe.consecutive_failures + 1
    incident = repo.open_incident(session, probe.system_id)
    if outcome.ok and incident is not None:
        incident.closed_at = now
        incident.notes = _append(incident.notes, now, f"recovered: {probe.name} {outcome.detail}")
        log.info("incident %s of %s closed", incident.id, system.code)
    elif (
        not outcome.ok
        and incident is None
        and probe.consecutive_failures >= probe.fail_threshold
        and not repo.in_maintenance(session, probe.system_id, now)
    ):
        incident = Incident(system_id=probe.system_id, opened_at=now, cause=f"{probe.name}: {outcome.detail}"[:500])
        session.add(incident)
        log.warning("incident opened for %s: %s", system.code, outcome.detail)
    metrics.observe(system.code, probe.name, outcome.ok, outcome.latency_ms)
    session.flush()
    return result


def run_probe(
    session: Session, probe: Probe, now: datetime | None = None, allow: AllowList | None = None
) -> ProbeResult:
    now = now or utcnow()
    return record(session, probe, check(session, probe, now, allow), now)


def due_probes(session: Session, now: datetime) -> list[Probe]:
    """Enabled probes whose period has elapsed since their last run."""
    return [
        p
        for p in repo.probes(session, enabled_only=True)
        if p.last_run_at is None or (now - p.last_run_at).total_seconds() >= p.period_s
    ]


def refresh_incident_gauge(session: Session) -> int:
    count = len(repo.incidents(session, open_only=True))
    metrics.INCIDENTS_OPEN.set(count)
    return count


# --- incidents and maintenance -------------------------------------------------------------------------------------


def _append(notes: str, at: datetime, text: str) -> str:
    line = f"[{at.astimezone(VN_TZ):%Y-%m-%d %H:%M}] {text}"
    return f"{notes}\n{line}" if notes else line


def list_incidents(session: Session, open_only: bool = False, system_code: str | None = None) -> Sequence[Incident]:
    system_id = get_system(session, system_code).id if system_code else None
    return repo.incidents(session, open_only, system_id)


def add_incident_note(session: Session, incident_id: int, note: str) -> Incident:
    incident = session.get(Incident, incident_id)
    if incident is None:
        raise NotFound(f"incident {incident_id} not found")
    incident.notes = _append(incident.notes, utcnow(), note.strip())
    session.flush()
    return incident


def add_maintenance(
    session: Session, system_code: str, starts_at: datetime, ends_at: datetime, reason: str = ""
) -> MaintenanceWindow:
    if starts_at.tzinfo is None or ends_at.tzinfo is None:
        raise InvalidInput("maintenance window: give times with a time zone (e.g. +07:00)")
    if ends_at <= starts_at:
        raise InvalidInput("maintenance window: the end must be after the start")
    window = MaintenanceWindow(
        system_id=get_system(session, system_code).id, starts_at=starts_at, ends_at=ends_at, reason=reason
    )
    session.add(window)
    session.flush()
    return window


# --- status and uptime ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SystemStatus:
    code: str
    name: str
    state: str  # "up" | "down" | "unknown"
    last_check: datetime | None
    detail: str
    open_incident_id: int | None


def system_status(session: Session) -> list[SystemStatus]:
    """Per system: down if any probe's last result failed or an incident is open, up if checked, else unknown."""
    out: list[SystemStatus] = []
    for system in repo.systems(session):
        incident = repo.open_incident(session, system.id)
        latest = [r for p in repo.probes(session, system.id) if (r := _last_of_probe(session, p)) is not None]
        if not latest:
            state, last, detail = "unknown", None, "no checks yet"
        else:
            failing = [r for r in latest if not r.ok]
            state = "down" if failing else "up"
            last = max(r.at for r in latest)
            detail = "; ".join(r.detail for r in failing) if failing else "all probes pass"
        if incident is not None:
            state = "down"
        out.append(SystemStatus(system.code, system.name, state, last, detail, incident.id if incident else None))
    return out


def _last_of_probe(session: Session, probe: Probe) -> ProbeResult | None:
    from sqlalchemy import select

    return session.scalar(
        select(ProbeResult).where(ProbeResult.probe_id == probe.id).order_by(ProbeResult.at.desc()).limit(1)
    )


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    rank = q * (len(ordered) - 1)
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def uptime(session: Session, system_code: str, first: date, last: date) -> list[dict[str, Any]]:
    """Per Vietnam calendar day: checks, uptime % (share of passing checks) and latency p50/p95 in ms."""
    if last < first:
        raise InvalidInput("uptime: the last day is before the first")
    if (last - first).days > 366:
        raise InvalidInput("uptime: at most 366 days at once")
    system = get_system(session, system_code)
    since = datetime.combine(first, time(), VN_TZ)
    until = datetime.combine(last + timedelta(days=1), time(), VN_TZ)
    by_day: dict[date, list[ProbeResult]] = {}
    for result in repo.results(session, system.id, since, until):
        by_day.setdefault(result.at.astimezone(VN_TZ).date(), []).append(result)
    out: list[dict[str, Any]] = []
    day = first
    while day <= last:
        rows = by_day.get(day, [])
        latencies = [r.latency_ms for r in rows if r.ok and r.latency_ms is not None]
        out.append(
            {
                "day": day,
                "checks": len(rows),
                "uptime_pct": round(100 * sum(r.ok for r in rows) / len(rows), 2) if rows else None,
                "p50_ms": round(_percentile(latencies, 0.5), 1) if latencies else None,
                "p95_ms": round(_percentile(latencies, 0.95), 1) if latencies else None,
            }
        )
        day += timedelta(days=1)
    return out


def overview(session: Session, today: date) -> dict[str, Any]:
    """Counts for a dashboard: systems by state, open incidents, overdue / at-risk tasks, ready centers."""
    from hopnhat.continuity import centers, plan

    states = [s.state for s in system_status(session)]
    tasks = plan.evaluate(session, today)
    ready = centers.readiness(session)
    return {
        "systems": {state: states.count(state) for state in ("up", "down", "unknown")},
        "incidents_open": len(repo.incidents(session, open_only=True)),
        "tasks": {
            "total": len(tasks),
            "overdue": sum(t["overdue"] for t in tasks),
            "at_risk": sum(t["at_risk"] for t in tasks),
            "done": sum(t["status"] == "done" for t in tasks),
        },
        "centers": {"total": len(ready), "ready": sum(r["ready"] for r in ready)},
    }
