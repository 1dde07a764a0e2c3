"""Tables of the consolidated store. Personal data (applicant name, ID number, phone, address) sits in the
``applicant_*`` columns, which only officers' views read; public views and logs never touch them."""

from __future__ import annotations

from datetime import datetime
from enum import IntEnum, StrEnum
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from hopnhat.db import Base, UTCDateTime, utcnow


class Status(IntEnum):
    """National dossier status codes (``TrangThaiHoSo`` in the portal sync). Overdue is not a status."""

    SUBMITTED = 1  # mới đăng ký
    RECEIVED = 2  # đã tiếp nhận
    REFUSED = 3  # từ chối
    IN_PROCESS = 4  # đang xử lý
    SUPPLEMENT_REQUESTED = 5  # yêu cầu bổ sung
    FEES_DUE = 6  # chờ thực hiện nghĩa vụ tài chính
    WITHDRAWN = 7  # công dân rút hồ sơ
    STOPPED = 8  # dừng xử lý
    FINISHED = 9  # đã xử lý xong
    RETURNED = 10  # đã trả kết quả


FINAL_STATUSES = frozenset({Status.REFUSED, Status.WITHDRAWN, Status.STOPPED, Status.RETURNED})
DONE_STATUSES = frozenset({Status.FINISHED, Status.RETURNED})


class Channel(IntEnum):
    """``KenhThucHien``: how the dossier was submitted."""

    IN_PERSON = 1
    ONLINE = 2
    POST = 3


class IdType(StrEnum):
    """The applicant's identity paper. The portal's ``LoaiDinhDanh`` knows 1 (12-digit citizen ID) and 2 (9-digit
    old ID); the others travel only as their number."""

    CITIZEN_ID = "cccd"  # căn cước / căn cước công dân, 12 digits
    OLD_ID = "cmnd"  # chứng minh nhân dân, 9 digits
    PASSPORT = "passport"  # hộ chiếu
    BUSINESS_CODE = "business"  # mã số doanh nghiệp / mã số thuế
    OTHER = "other"


class ApplicantType(IntEnum):
    """``LoaiDoiTuong``."""

    CITIZEN = 1
    BUSINESS = 2
    STATE_AGENCY = 3
    ORGANISATION = 4


class Dossier(Base):
    """A dossier (hồ sơ) of an administrative procedure, migrated from a legacy system or received here."""

    __tablename__ = "store_dossier"
    __table_args__ = (
        Index("ix_store_dossier_unit_status", "unit_code", "status"),
        Index("ix_store_dossier_center_status", "center_code", "status"),
        Index("ix_store_dossier_received", "received_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    """Dossier code (mã hồ sơ) ``<agency code>-<YYMMDD>-<NNNN>``; migrated dossiers keep theirs."""
    province_code: Mapped[str] = mapped_column(String(2), index=True)
    procedure_code: Mapped[str] = mapped_column(String(32))
    procedure_name: Mapped[str | None] = mapped_column(String(500))
    field_code: Mapped[str | None] = mapped_column(String(32))
    applicant_type: Mapped[int] = mapped_column(Integer, default=1)
    applicant_name: Mapped[str | None] = mapped_column(String(200))
    applicant_id_number: Mapped[str | None] = mapped_column(String(20))
    applicant_phone: Mapped[str | None] = mapped_column(String(20))
    applicant_address: Mapped[str | None] = mapped_column(String(500))
    channel: Mapped[int] = mapped_column(Integer, default=1)
    status: Mapped[int] = mapped_column(Integer, index=True)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    returned_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    original_unit_code: Mapped[str | None] = mapped_column(String(8))
    """Commune the dossier belonged to at receipt, as recorded by the source (identity with the receipt date)."""
    original_agency_code: Mapped[str | None] = mapped_column(String(40))
    unit_code: Mapped[str | None] = mapped_column(String(8))
    """Commune responsible today (after remapping through the registry); empty while under review."""
    center_code: Mapped[str | None] = mapped_column(String(40))
    """Agency code of the service center / agency handling the dossier today."""
    received_center_code: Mapped[str | None] = mapped_column(String(40), index=True)
    """Agency code of the center where the dossier was handed in; that center sees it as well as the handling one."""
    holder_unit_code: Mapped[str | None] = mapped_column(String(40), index=True)
    """Agency code of the processing unit (department, agency) the dossier is handed to, while it holds it."""
    holder_username: Mapped[str | None] = mapped_column(String(64), index=True)
    """The officer who holds the dossier now, when one does (indexed: "assigned to me" and every officer's scope)."""
    needs_review: Mapped[bool] = mapped_column(Boolean, default=False)
    review_reason: Mapped[str | None] = mapped_column(String(500))
    origin: Mapped[str] = mapped_column(String(16), default="native")
    """``native`` (received here) or ``migrated`` (brought in by sync)."""
    source_name: Mapped[str | None] = mapped_column(String(64))
    """Source of the copy that won deduplication (provenance of all copies: sync's source-copy table)."""
    row_hash: Mapped[str | None] = mapped_column(String(64))
    """Hash of the mapped fields, used by reconciliation to find changed dossiers."""
    applicant_email: Mapped[str | None] = mapped_column(String(254))
    applicant_id_type: Mapped[str | None] = mapped_column(String(16))
    """Identity paper of the applicant: ``IdType`` (``LoaiDinhDanh`` on the portal for the two citizen IDs)."""
    notice_consent: Mapped[bool] = mapped_column(Boolean, default=False)
    """The applicant agreed to receive notices about this dossier at the contacts given with it."""
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    """When the applicant submitted (``NgayNopHoSo``); online dossiers are submitted before they are received."""
    refused_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    """When the dossier was refused (``NgayTuChoi``)."""
    vneid_signin: Mapped[bool] = mapped_column(Boolean, default=False)
    """Submitted by an account verified with VNeID (``TaiKhoanDuocXacThucVoiVNeID``)."""
    paid_online: Mapped[bool] = mapped_column(Boolean, default=False)
    """Fees paid online (``DuocThanhToanTrucTuyen``)."""
    digitised_documents: Mapped[int] = mapped_column(Integer, default=0)
    """How many of the dossier's documents are digitised (``HoSoCoThanhPhanSoHoa`` when above zero)."""
    former_province_code: Mapped[str | None] = mapped_column(String(2))
    """The former province the dossier came from (``province_code`` is the province that serves it now)."""
    owned_here_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    """From when hopnhat, not the former system, owns a migrated dossier: its source's cut-over or the first
    officer action here. A later change in the former system is then flagged, never applied."""
    clock_paused_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    """Set while a supplement request stops the clock."""
    extra: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    steps: Mapped[list[ProcessingStep]] = relationship(
        back_populates="dossier", order_by="ProcessingStep.seq", cascade="all, delete-orphan"
    )


class ProcessingStep(Base):
    """One recorded transition or action on a dossier (who, when, note)."""

    __tablename__ = "store_processing_step"
    __table_args__ = (UniqueConstraint("dossier_id", "seq"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    dossier_id: Mapped[int] = mapped_column(ForeignKey("store_dossier.id", ondelete="CASCADE"), index=True)
    seq: Mapped[int] = mapped_column(Integer)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    actor: Mapped[str] = mapped_column(String(200))
    """Officer account or system name; never the applicant's identity."""
    from_status: Mapped[int | None] = mapped_column(Integer)
    to_status: Mapped[int] = mapped_column(Integer)
    note: Mapped[str | None] = mapped_column(Text)
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    """Due date in force after this step (NgayKetThucTheoQuyDinh)."""
    action: Mapped[str | None] = mapped_column(String(32))
    """The workflow action (``hopnhat.settlement.workflow.Action``); empty on migrated history."""
    public: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    """What the applicant is told on the public lookup: a refusal's reason, a supplement's items and where."""
    details: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    """Officers' details: the holder handed to, the paused hours, to whom and how a result went."""

    dossier: Mapped[Dossier] = relationship(back_populates="steps")


class Destination(StrEnum):
    """Where an outbox event goes. Each destination has its own relay and its own order per dossier, so one that
    fails (an SMTP outage) never holds up another (the portal)."""

    PORTAL = "portal"
    EMAIL = "email"
    SMS = "sms"
    ZALO = "zalo"


NOTICE_DESTINATIONS = (Destination.EMAIL, Destination.SMS, Destination.ZALO)


class OutboxEvent(Base):
    """Transactional outbox: every outbound message, to the National Public Service Portal or to a citizen.

    Written in the same transaction as the status change it describes. ``seq`` is one sequence per dossier shared
    by every destination (so the unique key stays (dossier_code, seq)); the order that counts is ``seq`` within one
    (destination, dossier). The payload is neutral: no contact, no identity number (the relays read those at
    delivery, so an opt-out or a corrected address applies to what is still queued).
    """

    __tablename__ = "store_outbox_event"
    __table_args__ = (
        UniqueConstraint("dossier_code", "seq"),
        Index("ix_store_outbox_event_state_next", "state", "next_attempt_at"),
        Index("ix_store_outbox_event_destination", "destination", "state", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    dossier_code: Mapped[str] = mapped_column(String(64), index=True)
    province_code: Mapped[str] = mapped_column(String(2))
    seq: Mapped[int] = mapped_column(Integer)
    destination: Mapped[str] = mapped_column(String(16), default=Destination.PORTAL, server_default="portal")
    """A :class:`Destination`."""
    kind: Mapped[str] = mapped_column(String(32))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    idempotency_key: Mapped[str] = mapped_column(String(100), unique=True)
    state: Mapped[str] = mapped_column(String(16), default="pending")
    """pending -> delivered, or -> dead after too many failures (requeue puts it back to pending)."""
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_error: Mapped[str | None] = mapped_column(String(1000))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


__all__ = [
    "DONE_STATUSES",
    "FINAL_STATUSES",
    "NOTICE_DESTINATIONS",
    "ApplicantType",
    "Channel",
    "Destination",
    "Dossier",
    "IdType",
    "OutboxEvent",
    "ProcessingStep",
    "Status",
]
