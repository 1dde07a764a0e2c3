"""Queries of the notices (the claim itself is the portal relay's, per destination: ``portal.repository``)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import NamedTuple

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from hopnhat.notices.models import NoticeTemplate
from hopnhat.portal.repository import DEAD, PENDING, SKIPPED
from hopnhat.registry.models import Agency
from hopnhat.store.models import NOTICE_DESTINATIONS, Dossier, OutboxEvent

NOTICES = OutboxEvent.destination.in_([d.value for d in NOTICE_DESTINATIONS])


class Contact(NamedTuple):
    consent: bool
    email: str | None
    phone: str | None


def contacts(session: Session, codes: Sequence[str]) -> dict[str, Contact]:
    """The applicant's consent and contacts per dossier code, read at delivery (never kept in the outbox)."""
    if not codes:
        return {}
    rows = session.execute(
        select(Dossier.code, Dossier.notice_consent, Dossier.applicant_email, Dossier.applicant_phone).where(
            Dossier.code.in_(codes)
        )
    ).all()
    return {r[0]: Contact(bool(r[1]), r[2], r[3]) for r in rows}


def centers(session: Session, codes: Sequence[str]) -> dict[str, tuple[str, str | None]]:
    """(name, phone) of the centers by agency code, as the registry holds them."""
    wanted = [c for c in set(codes) if c]
    if not wanted:
        return {}
    rows = session.execute(select(Agency.code, Agency.name, Agency.phone).where(Agency.code.in_(wanted))).all()
    return {r[0]: (r[1], r[2]) for r in rows}


def templates(session: Session) -> dict[tuple[str, str], NoticeTemplate]:
    return {(t.event, t.channel): t for t in session.scalars(select(NoticeTemplate))}


def get_template(session: Session, event: str, channel: str) -> NoticeTemplate | None:
    return session.get(NoticeTemplate, (event, channel))


def skip(session: Session, ids: Sequence[int], reason: str, now: datetime) -> None:
    """Notices that must not go (no consent any more, no contact): done, never sent."""
    if ids:
        session.execute(
            update(OutboxEvent)
            .where(OutboxEvent.id.in_(list(ids)))
            .values(state=SKIPPED, delivered_at=now, last_error=reason[:1000])
            .execution_options(synchronize_session=False)
        )


def dead(session: Session, dossier_code: str | None, limit: int) -> Sequence[OutboxEvent]:
    query = select(OutboxEvent).where(NOTICES, OutboxEvent.state == DEAD)
    if dossier_code is not None:
        query = query.where(OutboxEvent.dossier_code == dossier_code)
    return session.scalars(query.order_by(OutboxEvent.id).limit(limit)).all()


def get_notice(session: Session, event_id: int) -> OutboxEvent | None:
    event = session.get(OutboxEvent, event_id)
    return event if event is not None and event.destination != "portal" else None


def requeue(session: Session, event_id: int, now: datetime) -> int:
    result = session.execute(
        update(OutboxEvent)
        .where(OutboxEvent.id == event_id, OutboxEvent.state == DEAD, NOTICES)
        .values(state=PENDING, attempts=0, next_attempt_at=now)
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)


def counts(session: Session) -> dict[tuple[str, str], int]:
    rows = session.execute(
        select(OutboxEvent.destination, OutboxEvent.state, func.count())
        .where(NOTICES)
        .group_by(OutboxEvent.destination, OutboxEvent.state)
    ).all()
    return {(d, s): n for d, s, n in rows}


def for_dossier(session: Session, dossier_code: str) -> Sequence[OutboxEvent]:
    return session.scalars(
        select(OutboxEvent).where(NOTICES, OutboxEvent.dossier_code == dossier_code).order_by(OutboxEvent.seq)
    ).all()


__all__ = [
    "NOTICES",
    "Contact",
    "centers",
    "contacts",
    "counts",
    "dead",
    "for_dossier",
    "get_notice",
    "get_template",
    "requeue",
    "skip",
    "templates",
]
