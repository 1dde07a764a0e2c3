"""Every query of the registry: units by code and date, lineage edges, agencies and issued codes."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session, aliased

from hopnhat.registry.models import Agency, ChangeEvent, CodeIssuance, LineageLink, Unit


def _active(day: date) -> object:
    return and_(Unit.valid_from <= day, or_(Unit.valid_to.is_(None), Unit.valid_to >= day))


def units_with_code(session: Session, code: str) -> Sequence[Unit]:
    """Every period of a code, oldest first (a reused code has several)."""
    return session.scalars(select(Unit).where(Unit.code == code).order_by(Unit.valid_from)).all()


def unit_on(session: Session, code: str, day: date) -> Unit | None:
    return session.scalars(select(Unit).where(Unit.code == code, _active(day))).first()  # type: ignore[arg-type]


def unit_by_identity(session: Session, code: str, valid_from: date) -> Unit | None:
    return session.scalars(select(Unit).where(Unit.code == code, Unit.valid_from == valid_from)).first()


def active_units(
    session: Session, day: date, *, level: str | None = None, provinces: Iterable[str] | None = None
) -> Sequence[Unit]:
    query = select(Unit).where(_active(day))  # type: ignore[arg-type]
    if level is not None:
        query = query.where(Unit.level == level)
    if provinces is not None:
        query = query.where(Unit.province_code.in_(list(provinces)))
    return session.scalars(query.order_by(Unit.province_code, Unit.code)).all()


def successor_links(session: Session, unit_id: int) -> Sequence[tuple[LineageLink, ChangeEvent, Unit | None]]:
    """Edges leaving a unit, with their event and the successor (``None`` when the unit ended without one)."""
    to = aliased(Unit)
    rows = session.execute(
        select(LineageLink, ChangeEvent, to)
        .join(ChangeEvent, LineageLink.event_id == ChangeEvent.id)
        .outerjoin(to, LineageLink.to_unit_id == to.id)
        .where(LineageLink.from_unit_id == unit_id)
        .order_by(ChangeEvent.effective_date, to.code)
    ).all()
    return [(r[0], r[1], r[2]) for r in rows]


def predecessor_links(session: Session, unit_id: int) -> Sequence[tuple[LineageLink, ChangeEvent, Unit]]:
    src = aliased(Unit)
    rows = session.execute(
        select(LineageLink, ChangeEvent, src)
        .join(ChangeEvent, LineageLink.event_id == ChangeEvent.id)
        .join(src, LineageLink.from_unit_id == src.id)
        .where(LineageLink.to_unit_id == unit_id)
        .order_by(src.code)
    ).all()
    return [(r[0], r[1], r[2]) for r in rows]


def lineage_until(session: Session, day: date) -> Sequence[tuple[LineageLink, ChangeEvent, Unit, Unit | None]]:
    """Every edge whose change took effect on or before ``day``."""
    src, to = aliased(Unit), aliased(Unit)
    rows = session.execute(
        select(LineageLink, ChangeEvent, src, to)
        .join(ChangeEvent, LineageLink.event_id == ChangeEvent.id)
        .join(src, LineageLink.from_unit_id == src.id)
        .outerjoin(to, LineageLink.to_unit_id == to.id)
        .where(ChangeEvent.effective_date <= day)
        .order_by(ChangeEvent.effective_date, src.level, src.code, to.code)
    ).all()
    return [(r[0], r[1], r[2], r[3]) for r in rows]


def predecessors_of(session: Session, unit: Unit) -> Sequence[Unit]:
    """The units that ``unit`` was formed from (one step back)."""
    src = aliased(Unit)
    return session.scalars(
        select(src)
        .join(LineageLink, LineageLink.from_unit_id == src.id)
        .where(LineageLink.to_unit_id == unit.id)
        .order_by(src.code)
    ).all()


def agency_by_code(session: Session, code: str) -> Agency | None:
    return session.scalars(select(Agency).where(Agency.code == code)).first()


def agencies(session: Session, *, day: date | None = None, kind: str | None = None) -> Sequence[Agency]:
    query = select(Agency)
    if day is not None:
        query = query.where(Agency.valid_from <= day, or_(Agency.valid_to.is_(None), Agency.valid_to >= day))
    if kind is not None:
        query = query.where(Agency.kind == kind)
    return session.scalars(query.order_by(Agency.code)).all()


def open_unit_agencies(session: Session, kinds: Sequence[str]) -> Sequence[tuple[Agency, Unit]]:
    """Agencies still open, of the given kinds, with the unit they serve."""
    query = (
        select(Agency, Unit)
        .join(Unit, (Unit.code == Agency.unit_code) & (Unit.valid_from == Agency.unit_valid_from))
        .where(Agency.valid_to.is_(None), Agency.kind.in_(kinds))
        .order_by(Agency.code)
    )
    return [(agency, unit) for agency, unit in session.execute(query)]


def agency_for_unit(session: Session, unit: Unit, kind: str) -> Agency | None:
    return session.scalars(
        select(Agency)
        .where(Agency.unit_code == unit.code, Agency.unit_valid_from == unit.valid_from, Agency.kind == kind)
        .order_by(Agency.valid_from.desc())
    ).first()


def used_codes(session: Session) -> set[str]:
    """Every code ever held or issued: none of them may be issued again."""
    held = set(session.scalars(select(Agency.code)))
    return held | set(session.scalars(select(CodeIssuance.code)))


def issuances(session: Session) -> Sequence[CodeIssuance]:
    return session.scalars(select(CodeIssuance).order_by(CodeIssuance.issued_on, CodeIssuance.code)).all()


__all__ = [
    "active_units",
    "agencies",
    "agency_by_code",
    "agency_for_unit",
    "issuances",
    "lineage_until",
    "predecessor_links",
    "predecessors_of",
    "successor_links",
    "unit_by_identity",
    "unit_on",
    "units_with_code",
    "used_codes",
]
