"""Tables of the settlement part: the procedure catalogue, versioned electronic processes, calendar overrides and
the per-agency daily dossier counter."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Boolean, Date, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from hopnhat.db import Base, UTCDateTime, utcnow


class Procedure(Base):
    """An administrative procedure (thủ tục hành chính, TTHC) of the catalogue."""

    __tablename__ = "settlement_procedure"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    """National code (``N.NNNNNN``) where verified, otherwise a clearly local one (``MAU-...``)."""
    name: Mapped[str] = mapped_column(String(500))
    field: Mapped[str | None] = mapped_column(String(200))
    level: Mapped[str] = mapped_column(String(16))
    """Level of competence: ministry, province, district (must be re-levelled), commune."""
    days_in_person: Mapped[float | None] = mapped_column()
    days_online: Mapped[float | None] = mapped_column()
    days_post: Mapped[float | None] = mapped_column()
    fees: Mapped[str | None] = mapped_column(Text)
    documents: Mapped[str | None] = mapped_column(Text)
    results: Mapped[str | None] = mapped_column(Text)
    legal_basis: Mapped[str | None] = mapped_column(Text)
    is_sample: Mapped[bool] = mapped_column(Boolean, default=False)
    required_documents: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON)
    """Thành phần hồ sơ: ``[{code, name, copies, required}]`` (the intake form's checklist)."""
    fee_items: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON)
    """``[{name, amount}]`` in đồng; ``fees`` keeps the catalogue's text."""
    receiving_centers: Mapped[list[str] | None] = mapped_column(JSON)
    """Agency codes, or ``province`` / ``commune`` for all centers of a level; empty: every center."""
    handling_units: Mapped[list[str] | None] = mapped_column(JSON)
    """Agency codes of the departments or agencies that handle it (the hand-off's first choices)."""


class ProcessVersion(Base):
    """One version of the electronic process (quy trình điện tử) of a procedure."""

    __tablename__ = "settlement_process_version"
    __table_args__ = (UniqueConstraint("procedure_code", "version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    procedure_code: Mapped[str] = mapped_column(String(32), index=True)
    version: Mapped[int] = mapped_column(Integer)
    valid_from: Mapped[date] = mapped_column(Date)
    note: Mapped[str | None] = mapped_column(Text)
    steps: Mapped[list[ProcessStep]] = relationship(
        back_populates="process", order_by="ProcessStep.position", cascade="all, delete-orphan"
    )


class ProcessStep(Base):
    """An ordered step of a process version: who (role, unit kind) and how long (working hours)."""

    __tablename__ = "settlement_process_step"
    __table_args__ = (UniqueConstraint("process_id", "position"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    process_id: Mapped[int] = mapped_column(ForeignKey("settlement_process_version.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)
    role: Mapped[str] = mapped_column(String(100))
    unit_kind: Mapped[str] = mapped_column(String(32))
    hours: Mapped[float] = mapped_column()
    process: Mapped[ProcessVersion] = relationship(back_populates="steps")


class CalendarDay(Base):
    """An override of the working-day rule: ``off`` (extra day off) or ``work`` (make-up working day, ngày làm bù)."""

    __tablename__ = "settlement_calendar_day"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    kind: Mapped[str] = mapped_column(String(8))
    note: Mapped[str | None] = mapped_column(String(300))


class ReviewState(StrEnum):
    """Where a due date listed by a calendar edit stands: waiting for a decision, moved to the new calendar's, kept,
    or superseded (the dossier closed, or its due date changed by a later step, before anyone decided)."""

    PENDING = "pending"
    MOVED = "moved"
    KEPT = "kept"
    SUPERSEDED = "superseded"


class DueReview(Base):
    """A due date a calendar edit would move, kept as given until an officer or administrator decides.

    ``budget_hours`` is the dossier's working time (its time limit, extensions included, pauses left out), counted
    on the calendar in force when the due date was given: the proposal counts the same hours on the new calendar.
    At most one ``pending`` row per dossier (a later edit updates it)."""

    __tablename__ = "settlement_due_review"
    __table_args__ = (Index("ix_settlement_due_review_state_dossier", "state", "dossier_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    dossier_id: Mapped[int] = mapped_column(ForeignKey("store_dossier.id", ondelete="CASCADE"))
    day: Mapped[date] = mapped_column(Date)
    """The calendar day whose edit listed the dossier (the latest, when several did)."""
    budget_hours: Mapped[float] = mapped_column(Float)
    given_due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    proposed_due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    state: Mapped[str] = mapped_column(String(16), default=ReviewState.PENDING)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    decided_by: Mapped[str | None] = mapped_column(String(64))


class CodeCounter(Base):
    """Last dossier number issued by one agency on one (Vietnam) day; one row per pair, locked while taken."""

    __tablename__ = "settlement_code_counter"

    agency_code: Mapped[str] = mapped_column(String(40), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    last_number: Mapped[int] = mapped_column(Integer, default=0)


class Scan(Base):
    """A scanned document of a dossier, stored in the file store (``HOPNHAT_SCAN_DIR``) under its digest.

    The bytes are never in the database: ``sha256`` names the file and proves it unchanged."""

    __tablename__ = "settlement_scan"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    dossier_code: Mapped[str] = mapped_column(String(64), index=True)
    document_code: Mapped[str] = mapped_column(String(32))
    """The required document it is a scan of (the procedure's ``required_documents`` code)."""
    filename: Mapped[str] = mapped_column(String(200))
    media_type: Mapped[str] = mapped_column(String(40))
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    digitised: Mapped[bool] = mapped_column(Boolean, default=False)
    """Marked as the digitised document (số hóa): counts in the dossier's ``digitised_documents``."""
    uploaded_by: Mapped[str] = mapped_column(String(64))
    uploaded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


__all__ = [
    "CalendarDay",
    "CodeCounter",
    "DueReview",
    "Procedure",
    "ProcessStep",
    "ProcessVersion",
    "ReviewState",
    "Scan",
]
