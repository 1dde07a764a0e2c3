"""Tables of the continuity part: systems and their probes, incidents, the transition plan, the service centers."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Boolean, Date, Float, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from hopnhat.db import Base, UTCDateTime, utcnow


class System(Base):
    """An information system or platform (hệ thống thông tin) of a former province or of the city."""

    __tablename__ = "continuity_system"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(80), unique=True)
    name: Mapped[str] = mapped_column(String(300))
    owner_unit: Mapped[str] = mapped_column(String(300), default="")
    former_province: Mapped[str] = mapped_column(String(100), default="")
    criticality: Mapped[str] = mapped_column(String(20), default="medium")
    hosting: Mapped[str] = mapped_column(String(200), default="")
    decision: Mapped[str] = mapped_column(String(20), default="keep")
    target_system: Mapped[str] = mapped_column(String(80), default="")
    target_date: Mapped[date | None] = mapped_column(Date, default=None)
    status: Mapped[str] = mapped_column(String(40), default="operating")


class Probe(Base):
    """How a system is checked: ``http``, ``tcp`` or ``heartbeat`` with its parameters."""

    __tablename__ = "continuity_probe"

    id: Mapped[int] = mapped_column(primary_key=True)
    system_id: Mapped[int] = mapped_column(ForeignKey("continuity_system.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    kind: Mapped[str] = mapped_column(String(20))
    target: Mapped[str] = mapped_column(String(500), default="")
    expect_status: Mapped[int] = mapped_column(Integer, default=200)
    body_contains: Mapped[str] = mapped_column(String(300), default="")
    max_latency_ms: Mapped[float | None] = mapped_column(Float, default=None)
    min_cert_days: Mapped[int | None] = mapped_column(Integer, default=None)
    timeout_s: Mapped[float] = mapped_column(Float, default=5.0)
    period_s: Mapped[int] = mapped_column(Integer, default=60)
    fail_threshold: Mapped[int] = mapped_column(Integer, default=3)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    consecutive_failures: Mapped[int] = mapped_column(Integer, default=0)
    last_run_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)


class ProbeResult(Base):
    __tablename__ = "continuity_probe_result"

    id: Mapped[int] = mapped_column(primary_key=True)
    probe_id: Mapped[int] = mapped_column(ForeignKey("continuity_probe.id", ondelete="CASCADE"), index=True)
    system_id: Mapped[int] = mapped_column(ForeignKey("continuity_system.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    ok: Mapped[bool] = mapped_column(Boolean)
    latency_ms: Mapped[float | None] = mapped_column(Float, default=None)
    detail: Mapped[str] = mapped_column(String(500), default="")


class Incident(Base):
    """A period during which a system was down; opened and closed by the monitor."""

    __tablename__ = "continuity_incident"

    id: Mapped[int] = mapped_column(primary_key=True)
    system_id: Mapped[int] = mapped_column(ForeignKey("continuity_system.id", ondelete="CASCADE"), index=True)
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    cause: Mapped[str] = mapped_column(String(500), default="")
    notes: Mapped[str] = mapped_column(Text, default="")


class MaintenanceWindow(Base):
    """Planned downtime: failures inside it are recorded but open no incident."""

    __tablename__ = "continuity_maintenance"

    id: Mapped[int] = mapped_column(primary_key=True)
    system_id: Mapped[int] = mapped_column(ForeignKey("continuity_system.id", ondelete="CASCADE"), index=True)
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime)
    reason: Mapped[str] = mapped_column(String(300), default="")


class Heartbeat(Base):
    """The last report-in of a job (a sync run, the portal relay); a heartbeat probe reads it."""

    __tablename__ = "continuity_heartbeat"

    name: Mapped[str] = mapped_column(String(120), primary_key=True)
    last_seen: Mapped[datetime] = mapped_column(UTCDateTime)


class PlanTask(Base):
    """A task of the transition plan (kế hoạch chuyển tiếp)."""

    __tablename__ = "continuity_plan_task"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    title: Mapped[str] = mapped_column(String(500))
    responsible_unit: Mapped[str] = mapped_column(String(300), default="")
    deadline: Mapped[date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(20), default="todo")
    done_on: Mapped[date | None] = mapped_column(Date, default=None)
    cutover_source: Mapped[str] = mapped_column(String(120), default="")


class PlanTaskDependency(Base):
    __tablename__ = "continuity_plan_dependency"
    __table_args__ = (UniqueConstraint("task_id", "depends_on_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    task_id: Mapped[int] = mapped_column(ForeignKey("continuity_plan_task.id", ondelete="CASCADE"), index=True)
    depends_on_id: Mapped[int] = mapped_column(ForeignKey("continuity_plan_task.id", ondelete="CASCADE"))


class Center(Base):
    """A Public Administration Service Center (Trung tâm Phục vụ hành chính công): provincial or one per commune.

    ``code`` is the commune code (``92`` for the provincial center), the key of the import files; ``agency_code`` is
    the center's agency identification code (Decision 20/2020, issued by ``hopnhat agencies issue``), the value
    dossiers (``store_dossier.center_code``) and center officers (``web_user.center_code``) carry. It is empty until
    codes are issued and ``hopnhat centers seed`` runs again.
    """

    __tablename__ = "continuity_center"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(20), unique=True)
    agency_code: Mapped[str | None] = mapped_column(String(40), unique=True, default=None)
    name: Mapped[str] = mapped_column(String(300))
    level: Mapped[str] = mapped_column(String(20), default="commune")
    unit_code: Mapped[str] = mapped_column(String(20), default="")
    address: Mapped[str] = mapped_column(String(500), default="")


class StaffAssignment(Base):
    """A person assigned to a center. ``person`` is personal data: shown to signed-in users, never logged."""

    __tablename__ = "continuity_staff"

    id: Mapped[int] = mapped_column(primary_key=True)
    center_id: Mapped[int] = mapped_column(ForeignKey("continuity_center.id", ondelete="CASCADE"), index=True)
    person: Mapped[str] = mapped_column(String(200))
    source_department: Mapped[str] = mapped_column(String(300), default="")
    role: Mapped[str] = mapped_column(String(120), default="")
    from_date: Mapped[date] = mapped_column(Date)
    recorded_on: Mapped[date] = mapped_column(Date)


class EquipmentRequirement(Base):
    """An item every center must have (the configurable checklist)."""

    __tablename__ = "continuity_equipment_requirement"

    id: Mapped[int] = mapped_column(primary_key=True)
    item: Mapped[str] = mapped_column(String(200), unique=True)
    quantity: Mapped[int] = mapped_column(Integer, default=1)


class EquipmentItem(Base):
    __tablename__ = "continuity_equipment_item"
    __table_args__ = (UniqueConstraint("center_id", "item"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    center_id: Mapped[int] = mapped_column(ForeignKey("continuity_center.id", ondelete="CASCADE"), index=True)
    item: Mapped[str] = mapped_column(String(200))
    quantity: Mapped[int] = mapped_column(Integer, default=1)


class CenterRegulation(Base):
    """The operating regulation (quy chế hoạt động) of a center."""

    __tablename__ = "continuity_regulation"

    id: Mapped[int] = mapped_column(primary_key=True)
    center_id: Mapped[int] = mapped_column(ForeignKey("continuity_center.id", ondelete="CASCADE"), unique=True)
    number: Mapped[str] = mapped_column(String(80))
    issued_on: Mapped[date] = mapped_column(Date)
