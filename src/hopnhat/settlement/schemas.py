"""Pydantic shapes of the settlement API and CLI JSON output."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, Field

from hopnhat.bounds import Instant

LEVELS = ("ministry", "province", "district", "commune")


class ProcedureIn(BaseModel):
    code: str = Field(min_length=1, max_length=32)
    name: str = Field(min_length=1, max_length=500)
    field: str | None = Field(default=None, max_length=200)
    level: str = Field(max_length=16)
    # Working days: bounded, so a due date is always computable (an unbounded float never finished the sum).
    days_in_person: float | None = Field(default=None, ge=0, le=1000)
    days_online: float | None = Field(default=None, ge=0, le=1000)
    days_post: float | None = Field(default=None, ge=0, le=1000)
    fees: str | None = None
    documents: str | None = None
    results: str | None = None
    legal_basis: str | None = None
    is_sample: bool = False


class IntakeIn(BaseModel):
    procedure_code: str = Field(min_length=1, max_length=32, examples=["1.001193"])
    channel: int = Field(ge=1, le=3, description="1 in person, 2 online, 3 by post")
    received_center: str | None = Field(
        default=None,
        max_length=40,
        description="Center where it was handed in: one of the officer's centers (default: their first)",
    )
    applicant_name: str = Field(min_length=1, max_length=200)
    applicant_id_number: str | None = Field(default=None, max_length=20)
    applicant_phone: str | None = Field(default=None, max_length=20)
    applicant_address: str | None = Field(default=None, max_length=500)
    commune_code: str | None = Field(
        default=None, max_length=8, description="Officer's choice; wins over address", examples=["31147"]
    )
    applicant_type: int = Field(default=1, ge=1, le=4)


class TransitionIn(BaseModel):
    """A status change. Who and when are not fields: the signed-in principal and the server's clock."""

    to: str = Field(max_length=40, description="Target status: number or name", examples=["in_process", "9"])
    note: str | None = Field(default=None, max_length=2000)
    due_at: Instant | None = Field(default=None, description="New due date (extension only), with its time zone")


class StepOut(BaseModel):
    seq: int
    at: datetime
    from_status: int | None
    to_status: int
    note: str | None = None
    due_at: datetime | None = None
    actor: str | None = None


class ApplicantOut(BaseModel):
    """The applicant's personal data: shown only in audited views."""

    name: str | None
    id_number: str | None
    phone: str | None
    address: str | None


class DossierOut(BaseModel):
    """Officer view (signed-in officers of the dossier's centers). ``applicant`` is filled only by the audited
    read of one dossier (``GET /dossiers/{code}``, ``hopnhat dossiers show``); lists and changes leave it out."""

    code: str
    procedure_code: str
    procedure_name: str | None
    status: int
    status_name: str
    channel: int
    received_at: datetime
    due_at: datetime | None
    finished_at: datetime | None
    clock_paused: bool
    unit_code: str | None
    center_code: str | None
    received_center_code: str | None = None
    steps: list[StepOut]
    applicant: ApplicantOut | None = None


class PublicDossierOut(BaseModel):
    """What anyone may see: no name (not even masked), ID number, phone or address; steps without officer or note."""

    code: str
    procedure_code: str
    procedure_name: str | None
    status: int
    status_name: str
    received_at: datetime
    due_at: datetime | None
    finished_at: datetime | None
    handling_unit: str | None
    steps: list[StepOut]


class DueItem(BaseModel):
    code: str
    procedure_code: str
    status: int
    due_at: datetime
    center_code: str | None


class ReportRow(BaseModel):
    """Measurable indicators of Decision 766/QĐ-TTg for one center over one period."""

    center_code: str
    received: int
    finished: int
    early: int
    on_time: int
    late: int
    on_time_rate: float | None
    avg_working_days: float | None
    online_share: float | None
    synced_share: float | None


class CalendarDayRow(BaseModel):
    """A day that differs from the weekday rule, and where that comes from: ``operator`` (the operator's table),
    ``bundled`` (the checked civil-service table) or ``library`` (the ``holidays`` package, shown ``unconfirmed``
    for Vietnam Culture Day until the operator records a decision)."""

    day: date
    kind: str
    source: str
    legal_basis: str | None = None
    unconfirmed: bool = False


class DueReviewOut(BaseModel):
    """A due date a calendar edit would move: kept as given until someone decides."""

    code: str
    center_code: str | None
    day: date
    given_due_at: datetime
    proposed_due_at: datetime
    state: str
    decided_by: str | None = None
    decided_at: datetime | None = None


class CalendarEditOut(BaseModel):
    """An edit of the operator's table and the open dossiers whose due date it would move (not moved)."""

    day: date
    kind: str | None
    previous: str | None
    reviews: list[DueReviewOut]


__all__ = [
    "LEVELS",
    "ApplicantOut",
    "CalendarDayRow",
    "CalendarEditOut",
    "DossierOut",
    "DueItem",
    "DueReviewOut",
    "IntakeIn",
    "ProcedureIn",
    "PublicDossierOut",
    "ReportRow",
    "StepOut",
    "TransitionIn",
]
