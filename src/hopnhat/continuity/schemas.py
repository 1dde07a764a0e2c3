"""Pydantic shapes of the continuity API.

The input shapes bound every field by its column (PostgreSQL refuses a longer string or a larger integer) and by
what makes sense (a status code is 100-599); the output shapes carry no bounds, so a row stored before a bound
tightened is still shown.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from hopnhat.bounds import Day, Instant

Decision = Literal["keep", "merge", "migrate", "retire"]
Criticality = Literal["low", "medium", "high", "critical"]
ProbeKind = Literal["http", "tcp", "heartbeat"]
TaskStatus = Literal["todo", "in_progress", "done", "blocked"]


SystemName = Annotated[str, Field(min_length=1, max_length=300)]
OwnerUnit = Annotated[str, Field(max_length=300)]
FormerProvince = Annotated[str, Field(max_length=100)]
Hosting = Annotated[str, Field(max_length=200)]
TargetSystem = Annotated[str, Field(max_length=80)]
SystemStatus = Annotated[str, Field(min_length=1, max_length=40)]


class SystemIn(BaseModel):
    code: str = Field(min_length=1, max_length=80)
    name: SystemName
    owner_unit: OwnerUnit = ""
    former_province: FormerProvince = ""
    criticality: Criticality = "medium"
    hosting: Hosting = ""
    decision: Decision = "keep"
    target_system: TargetSystem = ""
    target_date: Day | None = None
    status: SystemStatus = "operating"


class SystemPatch(BaseModel):
    """The fields sent change, the others stay. Only ``target_date`` may be sent as null (to clear it): the other
    columns hold a value, and a null for them is refused (422), not stored (it was a 500)."""

    name: SystemName | None = None
    owner_unit: OwnerUnit | None = None
    former_province: FormerProvince | None = None
    criticality: Criticality | None = None
    hosting: Hosting | None = None
    decision: Decision | None = None
    target_system: TargetSystem | None = None
    target_date: Day | None = None
    status: SystemStatus | None = None

    @field_validator(
        "name",
        "owner_unit",
        "former_province",
        "criticality",
        "hosting",
        "decision",
        "target_system",
        "status",
        mode="before",
    )
    @classmethod
    def _not_null(cls, value: object) -> object:
        if value is None:
            raise ValueError("may be left out, but not null")
        return value


class SystemOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    code: str
    name: str
    owner_unit: str
    former_province: str
    criticality: str
    hosting: str
    decision: str
    target_system: str
    target_date: date | None
    status: str


class ProbeIn(BaseModel):
    name: str = Field(min_length=1, max_length=120)
    kind: ProbeKind
    target: str = Field(default="", max_length=500)
    expect_status: int = Field(default=200, ge=100, le=599)
    body_contains: str = Field(default="", max_length=300)
    max_latency_ms: float | None = Field(default=None, gt=0, le=3_600_000)
    min_cert_days: int | None = Field(default=None, ge=0, le=3650)
    timeout_s: float = Field(default=5.0, gt=0, le=60)
    period_s: int = Field(default=60, ge=1, le=7 * 86_400, description="Seconds between two checks (at most a week)")
    fail_threshold: int = Field(default=3, ge=1, le=1000)


class ProbeOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    name: str
    kind: str
    target: str
    expect_status: int
    body_contains: str
    max_latency_ms: float | None
    min_cert_days: int | None
    timeout_s: float
    period_s: int
    fail_threshold: int
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
    starts_at: Instant
    ends_at: Instant
    reason: str = Field(default="", max_length=300)


class UptimeDay(BaseModel):
    day: date
    checks: int
    uptime_pct: float | None
    p50_ms: float | None
    p95_ms: float | None


TaskCode = Annotated[str, Field(min_length=1, max_length=40)]


class TaskIn(BaseModel):
    code: TaskCode
    title: str = Field(min_length=1, max_length=500)
    responsible_unit: str = Field(default="", max_length=300)
    deadline: Day
    status: TaskStatus = "todo"
    depends_on: list[TaskCode] = Field(default=[], max_length=1000)
    cutover_source: str = Field(default="", max_length=120)


class TaskStatusIn(BaseModel):
    status: TaskStatus
    on: Day | None = None


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
