"""Pydantic shapes of the settlement API and CLI JSON output."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, Field

from hopnhat.bounds import Instant
from hopnhat.store.models import IdType

LEVELS = ("ministry", "province", "district", "commune")


class DocumentIn(BaseModel):
    """One required document of a procedure (thành phần hồ sơ)."""

    code: str = Field(min_length=1, max_length=32, description="The document's code within the procedure")
    name: str = Field(min_length=1, max_length=500)
    copies: str | None = Field(default=None, max_length=100, description="e.g. 01 bản chính, 01 bản sao")
    required: bool = True


class FeeIn(BaseModel):
    """One fee or charge (phí, lệ phí) of a procedure, in đồng."""

    name: str = Field(min_length=1, max_length=300)
    amount: int = Field(ge=0, le=10_000_000_000)


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
    required_documents: list[DocumentIn] = Field(default_factory=list, max_length=100)
    fee_items: list[FeeIn] = Field(default_factory=list, max_length=50)
    receiving_centers: list[str] = Field(
        default_factory=list,
        max_length=200,
        description="Centers that receive it: agency codes, or 'province' / 'commune' for every center of that "
        "level; empty: every center (Decree 118/2025)",
    )
    handling_units: list[str] = Field(
        default_factory=list, max_length=200, description="Agency codes of the units that handle it"
    )


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
    applicant_id_type: IdType | None = Field(default=None, description="cccd, cmnd, passport, business, other")
    applicant_email: str | None = Field(default=None, max_length=254)
    notice_consent: bool = False
    documents: list[str] = Field(
        default_factory=list, max_length=100, description="Codes of the required documents handed in"
    )
    route_to_receiving_center: bool = Field(
        default=False,
        description="When the address cannot be converted, route to the receiving center instead of refusing "
        "(the counter never blocks on an address: Dispatch 111/CĐ-TTg)",
    )


class ActionIn(BaseModel):
    """One action on a dossier (see ``hopnhat.settlement.workflow.ACTIONS``). Who and when are not fields."""

    action: str = Field(max_length=40, examples=["hand_off", "request_supplement", "refuse"])
    note: str | None = Field(default=None, max_length=2000)
    reason: str | None = Field(default=None, max_length=2000, description="Refusal or stop: shown to the applicant")
    items: list[str] = Field(default_factory=list, max_length=50, description="Supplement: the items to bring")
    where: str | None = Field(default=None, max_length=500, description="Supplement: where to bring them")
    new_due_at: Instant | None = Field(default=None, description="Extension: the new due date, with its time zone")
    holder_unit: str | None = Field(default=None, max_length=40, description="Hand-off: the unit's agency code")
    holder_username: str | None = Field(default=None, max_length=64, description="Hand-off: the officer")
    returned_to: str | None = Field(default=None, max_length=200, description="Result returned to whom")
    return_method: str | None = Field(default=None, max_length=40, description="at_counter, post, online")


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


class CenterOut(BaseModel):
    """A service center as the public sees it: name, and its address and phone where the registry has them."""

    code: str
    name: str | None = None
    address: str | None = None
    phone: str | None = None


class PublicDossierOut(BaseModel):
    """What anyone may see: no name (not even masked), ID number, phone or address; steps without officer or note.
    A refusal or stop shows its reason and a supplement request its items: the officer writes them for the
    applicant (the forms say so)."""

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
    center: CenterOut | None = None
    """The center handling the dossier."""
    received_center: CenterOut | None = None
    """The center it was handed in at, when another one."""
    reason: str | None = None
    """Why it was refused or stopped."""
    supplement_items: list[str] = []
    supplement_where: str | None = None


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
    "ActionIn",
    "ApplicantOut",
    "CalendarDayRow",
    "CalendarEditOut",
    "CenterOut",
    "DocumentIn",
    "DossierOut",
    "DueItem",
    "DueReviewOut",
    "FeeIn",
    "IntakeIn",
    "ProcedureIn",
    "PublicDossierOut",
    "ReportRow",
    "StepOut",
    "TransitionIn",
]
