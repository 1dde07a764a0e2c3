"""Rules of the delivery to the portal: backoff, dead letters, requeue, status. No HTTP, no commit."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from hopnhat.db import utcnow
from hopnhat.errors import Conflict, InvalidInput, NotFound
from hopnhat.portal import repository as repo
from hopnhat.portal.mapping import MENDABLE_FIELDS, check_dossier_code
from hopnhat.portal.models import PortalMend
from hopnhat.portal.schemas import DeadLetter, PortalStatus, RelayInfo
from hopnhat.store.models import Dossier, OutboxEvent


@dataclass(frozen=True)
class RetryPolicy:
    """When to try a failed event again, and when to give up on it (dead letter)."""

    max_attempts: int = 10
    """Failures after which an event goes dead and blocks the later events of its dossier until requeued."""
    base_seconds: float = 1.0
    cap_seconds: float = 300.0
    jitter: bool = True
    """Spread retries (50-100 % of the delay) so events that failed together do not come back together."""

    def delay(self, attempts: int) -> timedelta:
        """Wait after the ``attempts``-th failure: base * 2^(attempts-1), capped."""
        seconds = min(self.cap_seconds, self.base_seconds * 2 ** max(0, attempts - 1))
        if self.jitter:
            seconds *= 0.5 + random.random() / 2
        return timedelta(seconds=seconds)


@dataclass(frozen=True)
class Outcome:
    """What became of one delivery attempt."""

    event_id: int
    attempts_before: int
    error: str | None = None
    """None when the portal acknowledged the event."""
    retry: bool = True
    """False for a terminal error (the portal refused the record): the event goes dead at once."""


def outcome_updates(outcomes: list[Outcome], policy: RetryPolicy, now: datetime) -> list[dict[str, Any]]:
    """The row changes the outcomes make (for one bulk UPDATE)."""
    rows: list[dict[str, Any]] = []
    for o in outcomes:
        attempts = o.attempts_before + 1
        if o.error is None:
            rows.append(
                {
                    "id": o.event_id,
                    "state": repo.DELIVERED,
                    "attempts": attempts,
                    "delivered_at": now,
                    "last_error": None,
                }
            )
        elif not o.retry or attempts >= policy.max_attempts:
            rows.append({"id": o.event_id, "state": repo.DEAD, "attempts": attempts, "last_error": o.error[:1000]})
        else:
            rows.append(
                {
                    "id": o.event_id,
                    "state": repo.PENDING,
                    "attempts": attempts,
                    "next_attempt_at": now + policy.delay(attempts),
                    "last_error": o.error[:1000],
                }
            )
    return rows


def record_outcomes(
    session: Session, outcomes: list[Outcome], policy: RetryPolicy, now: datetime | None = None
) -> None:
    """Delivered events in one ``UPDATE ... WHERE id IN`` (most of a batch), failures row by row."""
    when = now or utcnow()
    delivered = [o.event_id for o in outcomes if o.error is None]
    repo.mark_delivered(session, delivered, when)
    repo.apply_updates(session, outcome_updates([o for o in outcomes if o.error is not None], policy, when))


def status(session: Session, now: datetime | None = None) -> PortalStatus:
    now = now or utcnow()
    counts = repo.counts_by_state(session)
    due, retrying, oldest = repo.pending_summary(session, now)
    return PortalStatus(
        pending=counts.get(repo.PENDING, 0),
        due=due,
        retrying=retrying,
        dead=counts.get(repo.DEAD, 0),
        skipped=counts.get(repo.SKIPPED, 0),
        delivered=counts.get(repo.DELIVERED, 0),
        oldest_pending_at=oldest,
        lag_seconds=max(0.0, (now - oldest).total_seconds()) if oldest else 0.0,
        blocked_dossiers=repo.blocked_dossiers(session),
        last_error=repo.last_error(session),
        relays=[
            RelayInfo(
                relay_id=r.relay_id,
                started_at=r.started_at,
                heartbeat_at=r.heartbeat_at,
                delivered=r.delivered,
                failed=r.failed,
            )
            for r in repo.relays(session)
        ],
    )


def dead_letters(session: Session, limit: int = 100) -> list[DeadLetter]:
    events = repo.dead_events(session, limit)
    mends = repo.mends(session, sorted({e.dossier_code for e in events}))
    return [
        DeadLetter(
            mend=mends.get(e.dossier_code),
            id=e.id,
            dossier_code=e.dossier_code,
            seq=e.seq,
            kind=e.kind,
            attempts=e.attempts,
            last_error=e.last_error,
            created_at=e.created_at,
        )
        for e in repo.dead_events(session, limit)
    ]


def requeue(session: Session, event_id: int) -> int:
    """Put one dead event back in the queue (attempts reset); its dossier's later events follow it."""
    event = repo.get_event(session, event_id)
    if event is None:
        raise NotFound(f"outbox event {event_id} does not exist")
    if event.state != repo.DEAD:
        raise Conflict(f"outbox event {event_id} is {event.state}, not dead: only dead events can be requeued")
    return repo.requeue_dead(session, utcnow(), event_id)


def _dead(session: Session, event_id: int) -> OutboxEvent:
    event = repo.get_event(session, event_id)
    if event is None:
        raise NotFound(f"outbox event {event_id} does not exist")
    if event.state != repo.DEAD:
        raise Conflict(f"outbox event {event_id} is {event.state}, not dead")
    return event


def _reason(reason: str) -> str:
    text = " ".join((reason or "").split())
    if not text or len(text) > 500:
        raise InvalidInput("a reason of 1-500 characters is required (it goes into the audit log)")
    return text


def mend(session: Session, event_id: int, fields: dict[str, str], reason: str, by: str) -> dict[str, Any]:
    """Correct identifiers of a dead event's dossier as the portal must receive them, then put the event back in
    the queue; returns the changes (for the audit log). The correction applies to every later record of the
    dossier; the dossier itself keeps its own code (an inherited dossier is never renumbered here)."""
    event = _dead(session, event_id)
    why = _reason(reason)
    if not fields:
        raise InvalidInput(f"nothing to mend: give one of {', '.join(MENDABLE_FIELDS)}")
    clean: dict[str, str] = {}
    for name, value in fields.items():
        if name not in MENDABLE_FIELDS:
            raise InvalidInput(f"field {name[:40]!r} cannot be mended (one of {', '.join(MENDABLE_FIELDS)})")
        text = (value or "").strip()
        if not text or len(text) > 64:
            raise InvalidInput(f"{name}: a value of 1-64 characters is required")
        if name == "MaHoSo":
            check_dossier_code(text)
        clean[name] = text
    row = repo.get_mend(session, event.dossier_code)
    before = dict(row.fields) if row is not None else {}
    if row is None:
        session.add(PortalMend(dossier_code=event.dossier_code, fields=clean, reason=why, mended_by=by))
    else:
        row.fields = {**before, **clean}
        row.reason, row.mended_by, row.mended_at = why, by, utcnow()
    repo.requeue_dead(session, utcnow(), event_id)
    return {name: [before.get(name), value] for name, value in clean.items()} | {"reason": [None, why]}


def skip(session: Session, event_id: int, reason: str) -> dict[str, Any]:
    """Give up a dead event for good (the portal will not get it); the dossier's later events go on."""
    event = _dead(session, event_id)
    why = _reason(reason)
    repo.skip_dead(session, event.id, utcnow())
    return {"state": [repo.DEAD, repo.SKIPPED], "reason": [None, why], "last_error": [event.last_error, None]}


def compare_with_portal(session: Session, dossier_code: str, portal_copy: dict[str, Any]) -> dict[str, Any]:
    """The local and the portal's status of one dossier (``portal_copy`` from ``TraCuuHoSo``; empty when unknown)."""
    dossier = session.scalar(select(Dossier).where(Dossier.code == dossier_code))
    if dossier is None:
        raise NotFound(f"dossier {dossier_code} does not exist here")
    pending = session.scalar(
        select(func.count()).where(
            OutboxEvent.dossier_code == dossier_code, OutboxEvent.state != repo.DELIVERED, repo.PORTAL
        )
    )
    raw = portal_copy.get("TrangThaiHoSo")
    portal_status = int(raw) if raw else None
    return {
        "dossier_code": dossier_code,
        "local_status": dossier.status,
        "portal_status": portal_status,
        "portal_steps": len(portal_copy.get("QuaTrinhXuLy") or []),
        "undelivered_events": pending or 0,
        "in_sync": portal_status == dossier.status,
    }


def requeue_all(session: Session) -> int:
    return repo.requeue_dead(session, utcnow())


__all__ = [
    "Outcome",
    "RetryPolicy",
    "dead_letters",
    "mend",
    "outcome_updates",
    "record_outcomes",
    "requeue",
    "requeue_all",
    "skip",
    "status",
]
