"""Queries on the outbox and the relay tables."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import exists, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, aliased

from hopnhat.portal.models import PortalMend, RelayHeartbeat, RelayLease
from hopnhat.store.models import Destination, Dossier, OutboxEvent

PENDING = "pending"
DELIVERED = "delivered"
DEAD = "dead"
SKIPPED = "skipped"
"""A dead event an administrator chose not to send (audited): it no longer holds its dossier's later events."""
DONE = (DELIVERED, SKIPPED)


PORTAL = OutboxEvent.destination == Destination.PORTAL
"""The portal's events: the outbox also carries the notices to citizens, each destination in its own order."""


def _blocked_by_earlier() -> Any:
    earlier = aliased(OutboxEvent)
    return exists().where(
        earlier.dossier_code == OutboxEvent.dossier_code,
        earlier.destination == OutboxEvent.destination,
        earlier.seq < OutboxEvent.seq,
        earlier.state.not_in(DONE),
    )


_CLAIMED = (
    OutboxEvent.id,
    OutboxEvent.dossier_code,
    OutboxEvent.seq,
    OutboxEvent.kind,
    OutboxEvent.payload,
    OutboxEvent.idempotency_key,
    OutboxEvent.attempts,
)
"""What the relay needs of a claimed event (rows, not ORM objects: a batch is hundreds of them)."""


def claim_heads(
    session: Session, now: datetime, limit: int, *, lock: bool, destination: str = Destination.PORTAL
) -> Sequence[Any]:
    """Due events of ``destination`` that are the first undelivered event of their dossier there, oldest first.

    With ``lock`` (PostgreSQL) the rows are locked ``FOR UPDATE SKIP LOCKED`` until the transaction ends, so
    concurrent relays take disjoint dossiers; a dossier whose first event is locked or dead is skipped whole,
    because its later events are not heads.
    """
    query = (
        select(*_CLAIMED)
        .where(
            OutboxEvent.destination == destination,
            OutboxEvent.state == PENDING,
            OutboxEvent.next_attempt_at <= now,
            ~_blocked_by_earlier(),
        )
        .order_by(OutboxEvent.id)
        .limit(limit)
    )
    if lock:
        query = query.with_for_update(skip_locked=True, of=OutboxEvent)
    return session.execute(query).all()


def followers(
    session: Session, heads: Sequence[Any], limit: int, destination: str = Destination.PORTAL
) -> Sequence[Any]:
    """Pending events after the claimed heads of the same dossiers (safe to send once their head is delivered)."""
    if not heads or limit <= 0:
        return []
    codes = [h.dossier_code for h in heads]
    query = (
        select(*_CLAIMED)
        .where(
            OutboxEvent.dossier_code.in_(codes),
            OutboxEvent.destination == destination,
            OutboxEvent.state == PENDING,
            OutboxEvent.id.not_in([h.id for h in heads]),
        )
        .order_by(OutboxEvent.dossier_code, OutboxEvent.seq)
        .limit(limit)
    )
    return session.execute(query).all()


Context = tuple[str, str | None, str | None, str | None, bool]


def dossier_context(session: Session, codes: Sequence[str]) -> dict[str, Context]:
    """Per dossier code: (origin, identity paper type, identity number, e-mail, owned here), read at delivery so the
    outbox keeps no identity numbers. "Owned here" is true for a native dossier, and for an inherited one from its
    source's cut-over or the first officer action here (``owned_here_at``)."""
    if not codes:
        return {}
    rows = session.execute(
        select(
            Dossier.code,
            Dossier.origin,
            Dossier.applicant_id_type,
            Dossier.applicant_id_number,
            Dossier.applicant_email,
            Dossier.owned_here_at,
        ).where(Dossier.code.in_(codes))
    ).all()
    return {r[0]: (r[1], r[2], r[3], r[4], r[1] != "migrated" or r[5] is not None) for r in rows}


def pushed_codes(session: Session, codes: Sequence[str]) -> set[str]:
    """The codes with at least one delivered event: the portal holds those dossiers."""
    if not codes:
        return set()
    rows = session.scalars(
        select(OutboxEvent.dossier_code)
        .where(OutboxEvent.dossier_code.in_(codes), OutboxEvent.state == DELIVERED, PORTAL)
        .distinct()
    )
    return set(rows)


def mends(session: Session, codes: Sequence[str]) -> dict[str, dict[str, str]]:
    if not codes:
        return {}
    rows = session.scalars(select(PortalMend).where(PortalMend.dossier_code.in_(codes))).all()
    return {m.dossier_code: dict(m.fields or {}) for m in rows}


def get_mend(session: Session, dossier_code: str) -> PortalMend | None:
    return session.get(PortalMend, dossier_code)


def mark_delivered(session: Session, ids: list[int], now: datetime) -> None:
    if ids:
        session.execute(
            update(OutboxEvent)
            .where(OutboxEvent.id.in_(ids))
            .values(state=DELIVERED, attempts=OutboxEvent.attempts + 1, delivered_at=now, last_error=None)
            .execution_options(synchronize_session=False)
        )


def apply_updates(session: Session, rows: list[dict[str, Any]]) -> None:
    """Bulk UPDATE by primary key (one executemany)."""
    if rows:
        session.execute(update(OutboxEvent), rows)


def counts_by_state(session: Session) -> dict[str, int]:
    rows = session.execute(select(OutboxEvent.state, func.count()).where(PORTAL).group_by(OutboxEvent.state)).all()
    return {state: count for state, count in rows}


def pending_summary(session: Session, now: datetime) -> tuple[int, int, datetime | None]:
    """(due, retrying, oldest created_at) of the pending events."""
    pending = (OutboxEvent.state == PENDING) & PORTAL
    due = session.scalar(select(func.count()).where(pending, OutboxEvent.next_attempt_at <= now)) or 0
    retrying = session.scalar(select(func.count()).where(pending, OutboxEvent.attempts > 0)) or 0
    oldest = session.scalar(select(func.min(OutboxEvent.created_at)).where(pending))
    return due, retrying, oldest


def blocked_dossiers(session: Session) -> int:
    return (
        session.scalar(
            select(func.count(func.distinct(OutboxEvent.dossier_code))).where(OutboxEvent.state == DEAD, PORTAL)
        )
        or 0
    )


def last_error(session: Session) -> str | None:
    return session.scalar(
        select(OutboxEvent.last_error)
        .where(OutboxEvent.state != DELIVERED, OutboxEvent.last_error.is_not(None), PORTAL)
        .order_by(OutboxEvent.id.desc())
        .limit(1)
    )


def dead_events(session: Session, limit: int) -> Sequence[OutboxEvent]:
    return session.scalars(
        select(OutboxEvent).where(OutboxEvent.state == DEAD, PORTAL).order_by(OutboxEvent.id).limit(limit)
    ).all()


def get_event(session: Session, event_id: int) -> OutboxEvent | None:
    """A portal event by id (a notice's id is not one: the notices have their own dead letters)."""
    event = session.get(OutboxEvent, event_id)
    return event if event is not None and event.destination == Destination.PORTAL else None


def skip_dead(session: Session, event_id: int, now: datetime) -> int:
    result = session.execute(
        update(OutboxEvent)
        .where(OutboxEvent.id == event_id, OutboxEvent.state == DEAD, PORTAL)
        .values(state=SKIPPED, delivered_at=now)
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)


def requeue_dead(session: Session, now: datetime, event_id: int | None = None) -> int:
    query = update(OutboxEvent).where(OutboxEvent.state == DEAD, PORTAL)
    if event_id is not None:
        query = query.where(OutboxEvent.id == event_id)
    result = session.execute(
        query.values(state=PENDING, attempts=0, next_attempt_at=now).execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)


def acquire_lease(session: Session, name: str, holder: str, now: datetime, until: datetime) -> bool:
    """Take or renew the lease ``name`` for ``holder`` unless another holder's lease is still running."""
    if session.get(RelayLease, name) is None:
        try:
            with session.begin_nested():  # two relays starting at once both see no row: one insert wins
                session.add(RelayLease(name=name, holder=None, expires_at=now))
        except IntegrityError:
            pass
    result = session.execute(
        update(RelayLease)
        .where(
            RelayLease.name == name,
            (RelayLease.holder == holder) | RelayLease.holder.is_(None) | (RelayLease.expires_at < now),
        )
        .values(holder=holder, expires_at=until)
        .execution_options(synchronize_session=False)
    )
    return bool(getattr(result, "rowcount", 0))


def release_lease(session: Session, name: str, holder: str) -> None:
    session.execute(
        update(RelayLease)
        .where(RelayLease.name == name, RelayLease.holder == holder)
        .values(holder=None)
        .execution_options(synchronize_session=False)
    )


def beat(session: Session, relay_id: str, now: datetime, delivered: int, failed: int) -> None:
    row = session.get(RelayHeartbeat, relay_id)
    if row is None:
        session.add(
            RelayHeartbeat(relay_id=relay_id, started_at=now, heartbeat_at=now, delivered=delivered, failed=failed)
        )
        return
    row.heartbeat_at = now
    row.delivered += delivered
    row.failed += failed


def relays(session: Session) -> Sequence[RelayHeartbeat]:
    return session.scalars(select(RelayHeartbeat).order_by(RelayHeartbeat.heartbeat_at.desc()).limit(20)).all()


__all__ = [
    "DEAD",
    "DELIVERED",
    "DONE",
    "PENDING",
    "PORTAL",
    "SKIPPED",
    "acquire_lease",
    "apply_updates",
    "beat",
    "blocked_dossiers",
    "claim_heads",
    "counts_by_state",
    "dead_events",
    "dossier_context",
    "followers",
    "get_event",
    "get_mend",
    "last_error",
    "mark_delivered",
    "mends",
    "pending_summary",
    "pushed_codes",
    "relays",
    "release_lease",
    "requeue_dead",
    "skip_dead",
]
