"""Queries of the data stewards' work (:mod:`hopnhat.sync.stewardship`): corrections, dismissals, unit choices, the
review queue and what the cut-over gate still counts. Also read by the sync's load (active corrections and choices,
retiring those a changed source record overrode), so it imports no other sync module but the models."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, false, func, or_, select, update
from sqlalchemy.orm import Session

from hopnhat.store.models import Dossier
from hopnhat.sync.models import Correction, Cutover, Dismissal, QuarantinedRecord, UnitChoice

OPEN_STATUSES = (1, 2, 4, 5, 6)
"""Statuses of an open dossier (as the cut-over gate counts them)."""


def active_corrections(session: Session, source: str) -> dict[str, tuple[dict[str, Any], dict[str, Any]]]:
    rows = session.execute(
        select(Correction.source_id, Correction.payload, Correction.fields).where(
            Correction.source == source, Correction.state == "active"
        )
    )
    return {sid: (dict(payload), dict(fields)) for sid, payload, fields in rows}


def active_choices(session: Session, source: str) -> dict[str, tuple[str | None, str]]:
    rows = session.execute(
        select(UnitChoice.dossier_code, UnitChoice.original_unit_code, UnitChoice.unit_code)
        .join(Dossier, Dossier.code == UnitChoice.dossier_code)
        .where(UnitChoice.state == "active", Dossier.source_name == source)
    )
    return {code: (original, unit) for code, original, unit in rows}


def supersede_corrections(session: Session, source: str, ids: Collection[str], now: datetime) -> None:
    session.execute(
        update(Correction)
        .where(Correction.source == source, Correction.source_id.in_(list(ids)), Correction.state == "active")
        .values(state="superseded", superseded_at=now)
    )


def supersede_choices(session: Session, codes: Collection[str], now: datetime) -> None:
    session.execute(
        update(UnitChoice)
        .where(UnitChoice.dossier_code.in_(list(codes)), UnitChoice.state == "active")
        .values(state="superseded", chosen_at=now)
    )


def correction(session: Session, source: str, source_id: str) -> Correction | None:
    return session.scalars(
        select(Correction).where(Correction.source == source, Correction.source_id == source_id)
    ).first()


def selection(
    session: Session,
    source: str | None,
    reason: str | None,
    since: datetime | None,
    until: datetime | None,
    limit: int,
) -> Sequence[QuarantinedRecord]:
    """Open quarantined records of a source, whose reasons hold ``reason`` (case-insensitive), quarantined in
    [since, until), by id. The reasons are a short JSON list: filtered here, after the indexed conditions."""
    query = select(QuarantinedRecord).where(QuarantinedRecord.state == "open").order_by(QuarantinedRecord.id)
    if source:
        query = query.where(QuarantinedRecord.source == source)
    if since is not None:
        query = query.where(QuarantinedRecord.created_at >= since)
    if until is not None:
        query = query.where(QuarantinedRecord.created_at < until)
    if not reason:
        return session.scalars(query.limit(limit)).all()
    # Streamed in pages and stopped at ``limit``: a large quarantine is never held whole (its payloads hold personal
    # data and can be large).
    wanted = reason.casefold()
    found: list[QuarantinedRecord] = []
    result = session.scalars(query.execution_options(yield_per=500))
    try:
        for q in result:
            if any(wanted in str(r).casefold() for r in q.reasons):
                found.append(q)
                if len(found) >= limit:
                    break
    finally:
        result.close()  # a server-side cursor left open at the break would hold the connection
    return found


def dismissals(session: Session, state: str | None, limit: int = 500) -> Sequence[Dismissal]:
    query = select(Dismissal).order_by(Dismissal.id).limit(limit)
    if state:
        query = query.where(Dismissal.state == state)
    return session.scalars(query).all()


def proposed_for(session: Session, quarantine_id: int) -> Dismissal | None:
    return session.scalars(
        select(Dismissal).where(Dismissal.quarantine_id == quarantine_id, Dismissal.state == "proposed")
    ).first()


def _to_review(source: str | None) -> ColumnElement[bool]:
    condition = and_(
        Dossier.origin == "migrated",
        or_(
            Dossier.needs_review.is_(True),
            and_(Dossier.unit_code.is_(None), Dossier.status.in_(OPEN_STATUSES)),
        ),
    )
    return and_(condition, Dossier.source_name == source) if source else condition


def review_queue(session: Session, source: str | None, limit: int) -> Sequence[Dossier]:
    """Migrated dossiers that need a unit or a look: open ones without a unit first, then by code."""
    no_unit = and_(Dossier.unit_code.is_(None), Dossier.status.in_(OPEN_STATUSES))
    return session.scalars(
        select(Dossier)
        .where(_to_review(source))
        .order_by(func.coalesce(no_unit, false()).desc(), Dossier.code)
        .limit(limit)
    ).all()


def left_counts(session: Session) -> dict[str, dict[str, int]]:
    """Per source: open quarantined records, proposed dismissals, open dossiers without a unit, dossiers to review,
    corrections a changed source record overrode."""
    out: dict[str, dict[str, int]] = {}

    def add(key: str, rows: Any) -> None:
        for source, n in rows:
            if source is not None:
                out.setdefault(str(source), {}).setdefault(key, 0)
                out[str(source)][key] += int(n)

    add(
        "quarantined",
        session.execute(
            select(QuarantinedRecord.source, func.count())
            .where(QuarantinedRecord.state == "open")
            .group_by(QuarantinedRecord.source)
        ),
    )
    add(
        "dismissals_proposed",
        session.execute(
            select(QuarantinedRecord.source, func.count())
            .join(Dismissal, Dismissal.quarantine_id == QuarantinedRecord.id)
            .where(Dismissal.state == "proposed")
            .group_by(QuarantinedRecord.source)
        ),
    )
    add(
        "without_unit",
        session.execute(
            select(Dossier.source_name, func.count())
            .where(Dossier.status.in_(OPEN_STATUSES), Dossier.unit_code.is_(None), Dossier.source_name.is_not(None))
            .group_by(Dossier.source_name)
        ),
    )
    add(
        "to_review",
        session.execute(
            select(Dossier.source_name, func.count()).where(_to_review(None)).group_by(Dossier.source_name)
        ),
    )
    add(
        "corrections_superseded",
        session.execute(
            select(Correction.source, func.count()).where(Correction.state == "superseded").group_by(Correction.source)
        ),
    )
    return out


def cutover_of(session: Session, source: str) -> Cutover | None:
    return session.get(Cutover, source)


def cutovers(session: Session) -> dict[str, Cutover]:
    return {c.source: c for c in session.scalars(select(Cutover))}


__all__ = [
    "active_choices",
    "active_corrections",
    "correction",
    "cutover_of",
    "cutovers",
    "dismissals",
    "left_counts",
    "proposed_for",
    "review_queue",
    "selection",
    "supersede_choices",
    "supersede_corrections",
]
