"""Queries of the settlement part."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, selectinload

from hopnhat.settlement.models import CalendarDay, CodeCounter, Procedure, ProcessVersion
from hopnhat.store.models import FINAL_STATUSES, Dossier, OutboxEvent, Status

OPEN_STATUSES = tuple(int(s) for s in Status if s not in FINAL_STATUSES and s not in (Status.FINISHED,))


def procedure(session: Session, code: str) -> Procedure | None:
    return session.scalar(select(Procedure).where(Procedure.code == code))


def procedures(session: Session) -> Sequence[Procedure]:
    return session.scalars(select(Procedure).order_by(Procedure.code)).all()


def calendar_days(session: Session) -> Sequence[CalendarDay]:
    return session.scalars(select(CalendarDay).order_by(CalendarDay.day)).all()


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


def open_dossiers_due_before(session: Session, limit: datetime, center: str | None) -> Sequence[Dossier]:
    stmt = select(Dossier).where(Dossier.status.in_(OPEN_STATUSES), Dossier.due_at.is_not(None), Dossier.due_at < limit)
    if center:
        stmt = stmt.where(Dossier.center_code == center)
    return session.scalars(stmt.order_by(Dossier.due_at)).all()


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
        .where(OutboxEvent.dossier_code.in_(codes), OutboxEvent.state == "delivered")
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


__all__ = [
    "OPEN_STATUSES",
    "calendar_days",
    "dossier",
    "latest_process",
    "next_number",
    "open_dossiers_due_before",
    "procedure",
    "procedures",
    "received_between",
    "synced_codes",
]
