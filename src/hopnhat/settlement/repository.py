"""Queries of the settlement part."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any, NamedTuple

from sqlalchemy import ColumnElement, Connection, Row, bindparam, case, func, or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, selectinload

from hopnhat.continuity.models import Center
from hopnhat.identity.principal import DossierScope
from hopnhat.registry.models import Agency
from hopnhat.settlement.models import CalendarDay, CodeCounter, DueReview, Procedure, ProcessVersion, ReviewState
from hopnhat.store.models import FINAL_STATUSES, Destination, Dossier, OutboxEvent, ProcessingStep, Status

_PORTAL = OutboxEvent.destination == Destination.PORTAL
"""The portal's events (the outbox also carries the notices to citizens)."""

OPEN_STATUSES = tuple(int(s) for s in Status if s not in FINAL_STATUSES and s not in (Status.FINISHED,))


def procedure(session: Session, code: str) -> Procedure | None:
    return session.scalar(select(Procedure).where(Procedure.code == code))


def procedures(session: Session) -> Sequence[Procedure]:
    return session.scalars(select(Procedure).order_by(Procedure.code)).all()


def calendar_days(session: Session) -> Sequence[CalendarDay]:
    return session.scalars(select(CalendarDay).order_by(CalendarDay.day)).all()


def open_dossier_rows_spanning(session: Session, start: datetime, end: datetime, limit: int) -> Sequence[Dossier]:
    """Open dossiers received before ``end`` and due at or after ``start``, with their steps (for their pauses)."""
    stmt = (
        select(Dossier)
        .where(
            Dossier.status.in_(OPEN_STATUSES),
            Dossier.due_at.is_not(None),
            Dossier.received_at < end,
            Dossier.due_at >= start,
        )
        .options(selectinload(Dossier.steps))
        .order_by(Dossier.due_at, Dossier.id)
        .limit(limit)
    )
    return session.scalars(stmt).all()


def pending_review(session: Session, dossier_id: int) -> DueReview | None:
    return session.scalar(
        select(DueReview).where(DueReview.dossier_id == dossier_id, DueReview.state == ReviewState.PENDING)
    )


def pending_reviews(
    session: Session, limit: int, states: Sequence[str] = (ReviewState.PENDING,)
) -> Sequence[tuple[DueReview, Dossier]]:
    """Listed due dates in ``states`` (waiting for a decision by default), with their dossiers, soonest given due
    date first."""
    stmt = (
        select(DueReview, Dossier)
        .join(Dossier, Dossier.id == DueReview.dossier_id)
        .where(DueReview.state.in_([str(s) for s in states]))
        .options(selectinload(Dossier.steps))
        .order_by(DueReview.given_due_at, DueReview.id)
        .limit(limit)
    )
    return [(row[0], row[1]) for row in session.execute(stmt)]


def next_number(session: Session, agency_code: str, day: date) -> int:
    """Take the next number of the agency's daily counter atomically (upsert ... returning).

    On PostgreSQL the conflicting row is locked until the transaction ends, so two concurrent intakes can never
    get the same number; SQLite serialises writers anyway."""
    dialect = session.get_bind().dialect.name
    ins = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(CodeCounter)
    stmt = (
        ins.values(agency_code=agency_code, day=day, last_number=1)
        .on_conflict_do_update(
            index_elements=[CodeCounter.agency_code, CodeCounter.day],
            set_={"last_number": CodeCounter.last_number + 1},
        )
        .returning(CodeCounter.last_number)
    )
    number = session.execute(stmt).scalar_one()
    return int(number)


def dossier(session: Session, code: str) -> Dossier | None:
    return session.scalar(select(Dossier).where(Dossier.code == code).options(selectinload(Dossier.steps)))


_PUBLIC_LOOKUP = (
    select(
        Dossier.code,
        Dossier.procedure_code,
        Dossier.procedure_name,
        Dossier.status,
        Dossier.received_at,
        Dossier.due_at,
        Dossier.finished_at,
        Dossier.center_code,
        Dossier.received_center_code,
        ProcessingStep.seq,
        ProcessingStep.at,
        ProcessingStep.from_status,
        ProcessingStep.to_status,
        ProcessingStep.due_at.label("step_due_at"),
        ProcessingStep.public,
    )
    .outerjoin(ProcessingStep, ProcessingStep.dossier_id == Dossier.id)
    .where(Dossier.code == bindparam("code"))
    .order_by(ProcessingStep.seq)
)
"""Built once: the lookup is the hottest path, and building the statement per call cost as much as compiling it."""


def public_dossier_rows(db: Connection | Session, code: str) -> Sequence[Row[*tuple[Any, ...]]]:
    """The public columns of one dossier joined with its steps: one row per step (one row with null step
    columns for a dossier without steps), none for an unknown code.

    One statement on the unique code index and the steps' ``(dossier_id, seq)`` index, so the public lookup costs
    a single round trip; no ORM objects are built and no ``applicant_*`` column, step actor or note is read."""
    return db.execute(_PUBLIC_LOOKUP, {"code": code}).all()


class CenterContact(NamedTuple):
    code: str
    name: str | None
    address: str | None
    phone: str | None


def center_contacts(db: Connection | Session, codes: set[str]) -> list[CenterContact]:
    """Name, address and phone of the agencies with these codes: the registry's, the continuity center's name and
    address where the registry has none (centers are imported there before the registry has their contacts)."""
    agencies = {
        r.code: r
        for r in db.execute(
            select(Agency.code, Agency.name, Agency.address, Agency.phone).where(Agency.code.in_(sorted(codes)))
        )
    }
    centers = {
        r.agency_code: r
        for r in db.execute(
            select(Center.agency_code, Center.name, Center.address).where(Center.agency_code.in_(sorted(codes)))
        )
    }
    out = []
    for code in sorted(codes):
        a, c = agencies.get(code), centers.get(code)
        if a is None and c is None:
            continue
        out.append(
            CenterContact(
                code,
                (c.name if c is not None else None) or (a.name if a is not None else None),
                (a.address if a is not None else None) or (c.address if c is not None else None) or None,
                a.phone if a is not None else None,
            )
        )
    return out


def portal_state(session: Session, code: str) -> dict[str, Any]:
    """The dossier's events for the national portal: how many per state, and the last delivery error."""
    rows = session.execute(
        select(OutboxEvent.state, func.count(OutboxEvent.id))
        .where(OutboxEvent.dossier_code == code, _PORTAL)
        .group_by(OutboxEvent.state)
    ).all()
    last = session.scalar(
        select(OutboxEvent.last_error)
        .where(OutboxEvent.dossier_code == code, _PORTAL)
        .order_by(OutboxEvent.seq.desc())
        .limit(1)
    )
    return {"counts": {str(state): int(n) for state, n in rows}, "last_error": last}


def agency_exists(session: Session, code: str) -> bool:
    return session.scalar(select(Agency.id).where(Agency.code == code).limit(1)) is not None


def units_to_hand_to(session: Session) -> list[tuple[str, str]]:
    """(code, name) of the departments and agencies a dossier may be handed to, open today."""
    today = date.today()
    rows = session.execute(
        select(Agency.code, Agency.name)
        .where(Agency.kind.in_(("department", "other")), Agency.valid_from <= today)
        .where((Agency.valid_to.is_(None)) | (Agency.valid_to >= today))
        .order_by(Agency.code)
    )
    return [(str(c), str(n)) for c, n in rows]


def center_level(session: Session, agency_code: str, province_code: str) -> str | None:
    """``province`` for the provincial center, ``commune`` for a commune's, None for an agency not in the
    registry."""
    unit = session.scalar(select(Agency.unit_code).where(Agency.code == agency_code))
    if unit is None:
        return None
    return "province" if unit == province_code else "commune"


def open_dossiers_due_before(session: Session, limit: datetime, center: str | None) -> Sequence[Dossier]:
    stmt = select(Dossier).where(Dossier.status.in_(OPEN_STATUSES), Dossier.due_at.is_not(None), Dossier.due_at < limit)
    if center:
        stmt = stmt.where(Dossier.center_code == center)
    return session.scalars(stmt.order_by(Dossier.due_at)).all()


def open_dossiers_spanning(session: Session, start: datetime, end: datetime, limit: int) -> Sequence[str]:
    """Codes of open dossiers received before ``end`` and due at or after ``start``."""
    stmt = (
        select(Dossier.code)
        .where(
            Dossier.status.in_(OPEN_STATUSES),
            Dossier.due_at.is_not(None),
            Dossier.received_at < end,
            Dossier.due_at >= start,
        )
        .order_by(Dossier.due_at)
        .limit(limit)
    )
    return session.scalars(stmt).all()


def received_between(session: Session, start: datetime, end: datetime, center: str | None) -> Sequence[Dossier]:
    stmt = select(Dossier).where(Dossier.received_at >= start, Dossier.received_at < end)
    if center:
        stmt = stmt.where(Dossier.center_code == center)
    return session.scalars(stmt).all()


def synced_codes(session: Session, codes: Sequence[str]) -> set[str]:
    if not codes:
        return set()
    rows = session.scalars(
        select(OutboxEvent.dossier_code)
        .where(OutboxEvent.dossier_code.in_(codes), OutboxEvent.state == "delivered", _PORTAL)
        .distinct()
    )
    return set(rows)


def latest_process(session: Session, procedure_code: str) -> ProcessVersion | None:
    return session.scalar(
        select(ProcessVersion)
        .where(ProcessVersion.procedure_code == procedure_code)
        .order_by(ProcessVersion.version.desc())
        .limit(1)
    )


def center_list(
    session: Session,
    center: str | None,
    scope: DossierScope,
    *,
    late_before: datetime | None = None,
    offset: int = 0,
    limit: int = 25,
) -> tuple[Sequence[Dossier], int]:
    """One page of the dossiers of ``center`` (received there or handled there) that ``scope`` sees, soonest due
    first, and how many there are in all; ``late_before`` keeps the open ones due before it whose clock runs."""
    stmt = select(Dossier)
    if center is not None:
        stmt = stmt.where(or_(Dossier.center_code == center, Dossier.received_center_code == center))
    if not scope.everything:
        seen: list[ColumnElement[bool]] = [
            Dossier.center_code.in_(scope.centers),
            Dossier.received_center_code.in_(scope.centers),
        ]
        if scope.units:
            seen.append(Dossier.holder_unit_code.in_(scope.units))
        if scope.username:
            seen.append(Dossier.holder_username == scope.username)
        stmt = stmt.where(or_(*seen))
    if late_before is not None:
        stmt = stmt.where(
            Dossier.due_at < late_before, Dossier.status.in_(OPEN_STATUSES), Dossier.clock_paused_at.is_(None)
        )
    total = session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    page = stmt.order_by(Dossier.due_at.is_(None), Dossier.due_at, Dossier.code).offset(offset).limit(limit)
    return session.scalars(page).all(), total


class Consolidation(NamedTuple):
    """Consolidation progress over the store, and the on-time rate per center of the dossiers finished."""

    total: int
    migrated: int
    review: int
    on_time: list[tuple[str | None, int, int]]
    """(center code, dossiers finished with a due date, of which on time), by center code; None for no center."""


def consolidation(session: Session, centers: int = 15) -> Consolidation:
    total, migrated, review = session.execute(
        select(
            func.count(Dossier.id),
            func.coalesce(func.sum(case((Dossier.origin == "migrated", 1), else_=0)), 0),
            func.coalesce(func.sum(case((Dossier.needs_review.is_(True), 1), else_=0)), 0),
        )
    ).one()
    done = [int(Status.FINISHED), int(Status.RETURNED)]
    per_center = session.execute(
        select(
            Dossier.center_code,
            func.count(Dossier.id),
            func.coalesce(func.sum(case((Dossier.finished_at <= Dossier.due_at, 1), else_=0)), 0),
        )
        .where(Dossier.status.in_(done), Dossier.due_at.is_not(None), Dossier.finished_at.is_not(None))
        .group_by(Dossier.center_code)
        .order_by(Dossier.center_code)
        .limit(centers)
    ).all()
    rates = [(code, int(n), int(on_time)) for code, n, on_time in per_center]
    return Consolidation(int(total), int(migrated), int(review), rates)


def dossier_centers(session: Session) -> list[str]:
    """Every center code dossiers carry."""
    return [c for c in session.scalars(select(Dossier.center_code).distinct().order_by(Dossier.center_code)) if c]


__all__ = [
    "OPEN_STATUSES",
    "CenterContact",
    "Consolidation",
    "agency_exists",
    "calendar_days",
    "center_contacts",
    "center_level",
    "center_list",
    "consolidation",
    "dossier",
    "dossier_centers",
    "latest_process",
    "next_number",
    "open_dossiers_due_before",
    "portal_state",
    "procedure",
    "procedures",
    "public_dossier_rows",
    "received_between",
    "synced_codes",
    "units_to_hand_to",
]
