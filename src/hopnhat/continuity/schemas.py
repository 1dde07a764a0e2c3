"""Pydantic shapes of the continuity API."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Decision = Literal["keep", "merge", "migrate", "retire"]
Criticality = Literal["low", "medium", "high", "critical"]
ProbeKind = Literal["http", "tcp", "heartbeat"]
TaskStatus = Literal["todo", "in_progress", "done", "blocked"]


class SystemIn(BaseModel):
    code: str = Field(min_length=1, max_length=80)
    name: str = Field(min_length=1, max_length=300)
    owner_unit: str = ""
    former_province: str = ""
    criticality: Criticality = "medium"
    hosting: str = ""
    decision: Decision = "keep"
    target_system: str = ""
    target_date: date | None = None
    status: str = "operating"


class SystemPatch(BaseModel):
    name: str | None = None
    owner_unit: str | None = None
    former_province: str | None = None
    criticality: Criticality | None = None
    hosting: str | None = None
    decision: Decision | None = None
    target_system: str | None = None
    target_date: date | None = None
    status: str | None = None


class SystemOut(SystemIn):
    model_config = ConfigDict(from_attributes=True)
    id: int


class ProbeIn(BaseModel):
    name: str = Field(min_length=1, max_length=120)
    kind: ProbeKind
    target: str = ""
    expect_status: int = 200
    body_contains: str = ""
    max_latency_ms: float | None = None
    min_cert_days: int | None = None
    timeout_s: float = Field(default=5.0, gt=0, le=60)
    period_s: int = Field(default=60, ge=1)
    fail_threshold: int = Field(default=3, ge=1)


class ProbeOut(ProbeIn):
    model_config = ConfigDict(from_attributes=True)
    id: int
    system_id: int
    consecutive_failures: int
    last_run_at: datetime | None


class IncidentOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    system_id: int
    opened_at: datetime
    closed_at: datetime | None
    cause: str
    notes: str


class NoteIn(BaseModel):
    note: str = Field(min_length=1, max_length=2000)


class MaintenanceIn(BaseModel):
    starts_at: datetime
    ends_at: datetime
    reason: str = ""


class UptimeDay(BaseModel):
    day: date
    checks: int
    uptime_pct: float | None
    p50_ms: float | None
    p95_ms: float | None


class TaskIn(BaseModel):
    code: str = Field(min_length=1, max_length=40)
    title: str = Field(min_length=1, max_length=500)
    responsible_unit: str = ""
    deadline: date
    status: TaskStatus = "todo"
    depends_on: list[str] = []
    cutover_source: str = ""


class TaskStatusIn(BaseModel):
    status: TaskStatus
    on: date | None = None


class TaskOut(BaseModel):
    code: str
    title: str
    responsible_unit: str
    deadline: date
    status: str
    depends_on: list[str]
    cutover_source: str
    overdue: bool
    at_risk: bool
    reasons: list[str]


class CenterReadiness(BaseModel):
    code: str
    name: str
    level: str
    staff_count: int
    staff_ok: bool
    regulation_ok: bool
    equipment_ok: bool
    missing_equipment: list[str]
    ready: bool
    reasons: list[str]
