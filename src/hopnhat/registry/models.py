"""Tables of the administrative-unit registry (shared master data).

A unit's identity is ``(code, valid_from)``: codes are reused (new 31120 Phường Cái Khế was old 31120 Phường An Hòa),
so nothing may join old and new on the code alone. ``valid_to`` is the last day the unit existed (inclusive);
``None`` means it still exists.

Agencies (cơ quan, đơn vị) carry an electronic identification code (mã định danh điện tử, Decision 20/2020/QĐ-TTg);
a code is issued once and never reused, so :class:`Agency` rows are closed (``valid_to``) with a successor instead of
being deleted or recoded.
"""

from __future__ import annotations

from datetime import date
from enum import StrEnum

from sqlalchemy import Boolean, Date, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from hopnhat.db import Base

OPEN_START = date(1900, 1, 1)
"""valid_from of units whose start the source tables do not record (they give the state on 2025-06-30)."""


class Level(StrEnum):
    PROVINCE = "province"
    DISTRICT = "district"
    COMMUNE = "commune"


class ChangeKind(StrEnum):
    """Kinds of change event (a resolution of the National Assembly Standing Committee, typically)."""

    MERGE = "merge"
    SPLIT = "split"
    UNCHANGED = "unchanged"
    RENAME = "rename"
    RECODE = "recode"
    LEVEL_ABOLISHED = "level_abolished"
    ESTABLISH = "establish"
    TYPE_CHANGE = "type_change"
    """Same name, another type: Tỉnh -> Thành phố (a province made a city), Xã -> Phường."""


class LinkKind(StrEnum):
    """How much of a predecessor went to a successor."""

    WHOLE = "whole"
    PART = "part"
    UNCHANGED = "unchanged"


class Unit(Base):
    """An administrative unit (đơn vị hành chính) during one period of its existence."""

    __tablename__ = "registry_unit"
    __table_args__ = (
        UniqueConstraint("code", "valid_from"),
        Index("ix_registry_unit_parent", "parent_code"),
        Index("ix_registry_unit_province_level", "province_code", "level"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(8), index=True)
    valid_from: Mapped[date] = mapped_column(Date)
    valid_to: Mapped[date | None] = mapped_column(Date)
    level: Mapped[str] = mapped_column(String(16))
    type: Mapped[str] = mapped_column(String(32))
    """Unit type word as written in law: Thành phố, Tỉnh, Quận, Huyện, Thị xã, Phường, Xã, Thị trấn."""
    name: Mapped[str] = mapped_column(String(200))
    parent_code: Mapped[str | None] = mapped_column(String(8))
    """Code of the parent unit on the same dates (province for a district; district, or province after 2025-07-01,
    for a commune)."""
    province_code: Mapped[str] = mapped_column(String(2))
    """Distribution key: every large table carries the province it belongs to."""

    def active_on(self, day: date) -> bool:
        return self.valid_from <= day and (self.valid_to is None or day <= self.valid_to)


class ChangeEvent(Base):
    """A typed change with its effective date and legal basis."""

    __tablename__ = "registry_change_event"
    __table_args__ = (UniqueConstraint("kind", "effective_date", "key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(24))
    effective_date: Mapped[date] = mapped_column(Date, index=True)
    key: Mapped[str] = mapped_column(String(64))
    """Natural key inside (kind, date), e.g. the code of the unit the event forms; makes loading idempotent."""
    legal_basis: Mapped[str] = mapped_column(String(200))
    legal_basis_date: Mapped[date | None] = mapped_column(Date)
    note: Mapped[str | None] = mapped_column(String(500))

    links: Mapped[list[LineageLink]] = relationship(back_populates="event", cascade="all, delete-orphan")


class LineageLink(Base):
    """One predecessor -> successor edge. ``to_unit_id`` is empty when a unit ends with no successor unit
    (a district when the level is abolished)."""

    __tablename__ = "registry_lineage_link"
    __table_args__ = (UniqueConstraint("from_unit_id", "to_unit_id", "event_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("registry_change_event.id", ondelete="CASCADE"), index=True)
    from_unit_id: Mapped[int] = mapped_column(ForeignKey("registry_unit.id"), index=True)
    to_unit_id: Mapped[int | None] = mapped_column(ForeignKey("registry_unit.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))

    event: Mapped[ChangeEvent] = relationship(back_populates="links")
    from_unit: Mapped[Unit] = relationship(foreign_keys=[from_unit_id])
    to_unit: Mapped[Unit | None] = relationship(foreign_keys=[to_unit_id])


class AgencyKind(StrEnum):
    """What an agency is; service centers are what dossiers are routed to."""

    PEOPLE_COMMITTEE = "people_committee"
    """Ủy ban nhân dân (of the city, a former province, a former district or a commune)."""
    DEPARTMENT = "department"
    """Sở, ban, ngành of the city."""
    SERVICE_CENTER = "service_center"
    """Trung tâm Phục vụ hành chính công (provincial or commune level)."""
    OTHER = "other"


class Agency(Base):
    """An agency with its electronic identification code, attached to the administrative unit it serves.

    ``code`` is unique for ever: a closed agency keeps its code, and ``successor_code`` names the agency that carries
    its work from the day after ``valid_to``.
    """

    __tablename__ = "registry_agency"
    __table_args__ = (
        UniqueConstraint("code"),
        Index("ix_registry_agency_unit", "unit_code", "unit_valid_from", "kind"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(35))
    name: Mapped[str] = mapped_column(String(300))
    kind: Mapped[str] = mapped_column(String(24))
    unit_code: Mapped[str | None] = mapped_column(String(8))
    unit_valid_from: Mapped[date | None] = mapped_column(Date)
    """With ``unit_code``, the identity of the :class:`Unit` the agency serves (codes alone are reused)."""
    valid_from: Mapped[date] = mapped_column(Date)
    valid_to: Mapped[date | None] = mapped_column(Date)
    successor_code: Mapped[str | None] = mapped_column(String(35))
    province_code: Mapped[str] = mapped_column(String(2))
    """Province whose code list this agency belongs to today (distribution key)."""
    confirmed: Mapped[bool] = mapped_column(Boolean, default=False)
    """False when the code is a configured assumption (DOMAIN.md marks the H-numbers unconfirmed)."""
    address: Mapped[str | None] = mapped_column(String(500))
    phone: Mapped[str | None] = mapped_column(String(40))
    """The agency's address and phone as imported (the citizen's lookup shows them); never invented."""

    def active_on(self, day: date) -> bool:
        return self.valid_from <= day and (self.valid_to is None or day <= self.valid_to)


class CodeIssuance(Base):
    """The record of one code being issued: which agency, on what day, under which decision."""

    __tablename__ = "registry_code_issuance"
    __table_args__ = (UniqueConstraint("code"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(35))
    agency_id: Mapped[int] = mapped_column(ForeignKey("registry_agency.id"), index=True)
    issued_on: Mapped[date] = mapped_column(Date)
    decision_number: Mapped[str | None] = mapped_column(String(100))
    rule: Mapped[str] = mapped_column(String(200))
    """How the code was chosen (the rule and its parameters), so a later audit can replay it."""

    agency: Mapped[Agency] = relationship()
