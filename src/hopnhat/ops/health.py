"""Readiness and the operations metrics: can this process serve, and how far behind are the relay and the sync.

Liveness (``/api/v1/health``) says the process answers; readiness (``/api/v1/health/ready``) says whether a load
balancer should send it requests: the store answers, its schema is this hopnhat's, the portal relay is not too far
behind and the last sync run did not fail and is recent enough. Each check reads counts and instants only, never a
dossier's content, so the answer is safe to show the public (load balancers call it without a token).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from prometheus_client import CollectorRegistry, Gauge, Histogram, generate_latest
from sqlalchemy import Engine, func, select, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from hopnhat.config import Settings

REGISTRY = CollectorRegistry()
REQUEST_LATENCY = Histogram(
    "hopnhat_request_duration_seconds",
    "Time to answer an HTTP request, by method, route template and status class (this worker process).",
    ["method", "route", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
    registry=REGISTRY,
)
SYNC_RUNS = Gauge("hopnhat_sync_runs", "Sync runs recorded in the store, by state.", ["state"], registry=REGISTRY)
SYNC_LAST = Gauge(
    "hopnhat_sync_last_run_finished_timestamp_seconds",
    "When the last finished sync run ended (Unix time; 0: none yet).",
    registry=REGISTRY,
)
QUARANTINE_OPEN = Gauge(
    "hopnhat_quarantine_open", "Quarantined records waiting for a steward, by source.", ["source"], registry=REGISTRY
)
RELAY_LAG = Gauge(
    "hopnhat_relay_lag_seconds",
    "Age of the oldest event the portal relay has not delivered yet (0: none pending).",
    registry=REGISTRY,
)
RELAY_PENDING = Gauge("hopnhat_relay_pending", "Events waiting for the portal relay.", registry=REGISTRY)
RELAY_DEAD = Gauge(
    "hopnhat_relay_dead_letters", "Events the relay gave up on (hopnhat portal requeue).", registry=REGISTRY
)


@dataclass(frozen=True)
class Check:
    ok: bool
    detail: str


@dataclass
class Readiness:
    checks: dict[str, Check] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks.values())

    def as_json(self) -> dict[str, Any]:
        return {
            "status": "ready" if self.ok else "not_ready",
            "checks": {name: {"ok": c.ok, "detail": c.detail} for name, c in self.checks.items()},
        }


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def relay_state(session: Session, now: datetime) -> tuple[int, int, float]:
    """(pending events, dead letters, seconds since the oldest pending event was written) of the portal relay
    (the notices to citizens have their own relays and dead letters: ``hopnhat notices``)."""
    from hopnhat.store.models import OutboxEvent

    portal = OutboxEvent.destination == "portal"
    pending, oldest = session.execute(
        select(func.count(), func.min(OutboxEvent.created_at)).where(OutboxEvent.state == "pending", portal)
    ).one()
    dead = session.scalar(select(func.count()).where(OutboxEvent.state == "dead", portal)) or 0
    lag = max(0.0, (now - _aware(oldest)).total_seconds()) if oldest is not None else 0.0
    return int(pending or 0), int(dead), lag


def last_sync(session: Session) -> tuple[str, datetime | None] | None:
    """(state, finished_at) of the latest sync run, or None before the first."""
    from hopnhat.sync.models import SyncRun

    row = session.execute(
        select(SyncRun.state, SyncRun.finished_at).where(SyncRun.dry_run.is_(False)).order_by(SyncRun.id.desc())
    ).first()
    return (str(row[0]), row[1]) if row else None


def readiness(engine: Engine, settings: Settings, now: datetime | None = None) -> Readiness:
    """Every check, each failing on its own (a store that is down fails them all, naming the store)."""
    from hopnhat.db import head_revisions, stored_revisions

    now = now or datetime.now(UTC)
    result = Readiness()
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except SQLAlchemyError as exc:
        # The driver's first line names the cause (refused, timeout, authentication); never a statement parameter.
        result.checks["store"] = Check(False, f"unreachable: {type(exc).__name__}")
        return result
    result.checks["store"] = Check(True, engine.dialect.name)
    try:
        stored, heads = stored_revisions(engine), head_revisions()
        detail = f"revision {', '.join(sorted(stored)) or 'none'}" + (
            "" if stored == heads else f", needs {', '.join(sorted(heads))} (hopnhat db upgrade)"
        )
        result.checks["schema"] = Check(stored == heads, detail)
        if stored != heads:
            return result
        with Session(engine) as session:
            pending, dead, lag = relay_state(session, now)
            limit = settings.ready_relay_lag_seconds
            result.checks["relay"] = Check(
                limit == 0 or lag <= limit, f"{pending} pending, oldest {lag:.0f} s (limit {limit} s), {dead} dead"
            )
            run = last_sync(session)
            result.checks["sync"] = _sync_check(run, now, settings.ready_sync_max_age_hours)
    except SQLAlchemyError as exc:
        result.checks["store"] = Check(False, f"failed during the checks: {type(exc).__name__}")
    return result


def _sync_check(run: tuple[str, datetime | None] | None, now: datetime, max_hours: float) -> Check:
    if run is None:
        return Check(True, "no sync run yet")
    state, finished = run
    if state == "failed":
        return Check(False, "the last sync run failed (hopnhat sync runs)")
    if finished is None:
        return Check(True, f"a run is {state}")
    age = (now - _aware(finished)).total_seconds() / 3600
    fresh = max_hours == 0 or age <= max_hours
    return Check(fresh, f"last run {state} {age:.1f} h ago (limit {max_hours:g} h)")


def observe_store(engine: Engine, now: datetime | None = None) -> None:
    """Set the store's gauges (sync runs, quarantine, relay) before a scrape."""
    from hopnhat.sync.models import QuarantinedRecord, SyncRun

    now = now or datetime.now(UTC)
    with Session(engine) as session:
        SYNC_RUNS.clear()
        for state, count in session.execute(select(SyncRun.state, func.count()).group_by(SyncRun.state)):
            SYNC_RUNS.labels(str(state)).set(count)
        finished = session.scalar(select(func.max(SyncRun.finished_at)))
        SYNC_LAST.set(_aware(finished).timestamp() if finished else 0)
        QUARANTINE_OPEN.clear()
        open_ = QuarantinedRecord.state == "open"
        for source, count in session.execute(
            select(QuarantinedRecord.source, func.count()).where(open_).group_by(QuarantinedRecord.source)
        ):
            QUARANTINE_OPEN.labels(str(source)).set(count)
        pending, dead, lag = relay_state(session, now)
        RELAY_PENDING.set(pending)
        RELAY_DEAD.set(dead)
        RELAY_LAG.set(lag)


def render(engine: Engine) -> bytes:
    observe_store(engine)
    return generate_latest(REGISTRY)


def observe_request(method: str, route: str, status: int, started: float) -> None:
    REQUEST_LATENCY.labels(method, route, f"{status // 100}xx").observe(time.perf_counter() - started)


__all__ = ["REGISTRY", "Check", "Readiness", "observe_request", "observe_store", "readiness", "render"]
