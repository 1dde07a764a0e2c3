"""What the registry's API and ``--json`` output look like."""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel, ConfigDict, Field


class UnitOut(BaseModel):
    """One period of an administrative unit; ``(code, valid_from)`` is its identity."""

    model_config = ConfigDict(from_attributes=True)

    code: str
    valid_from: date
    valid_to: date | None
    level: str
    type: str
    name: str
    parent_code: str | None
    province_code: str


class LinkOut(BaseModel):
    """One lineage edge seen from the other end: ``unit`` is the successor (or predecessor); ``None`` when the
    unit ended without a successor (a district when the level was abolished)."""

    unit: UnitOut | None
    kind: str = Field(description="whole, part or unchanged")
    event: str = Field(description="merge, split, unchanged, rename, recode, level_abolished, establish")
    effective_date: date
    legal_basis: str


class LineageOut(BaseModel):
    unit: UnitOut
    successors: list[LinkOut] | None = None
    predecessors: list[LinkOut] | None = None


class SearchHit(BaseModel):
    unit: UnitOut
    parent_name: str | None = Field(description="Name of the parent unit on the same day: tells same-named units apart")
    score: float = Field(description="0-100, higher is closer")


class SearchOut(BaseModel):
    query: str
    on: date
    hits: list[SearchHit]


class StatsOut(BaseModel):
    provinces: list[str]
    on: date
    total: int
    by_level: dict[str, int]
    by_level_and_type: dict[str, dict[str, int]]


class LoadOut(BaseModel):
    units_added: int
    units_closed: int
    events_added: int
    links_added: int
    agencies_added: int
    units_total: int
    agencies_total: int
    note: str | None = None
    """Why no agency was seeded (the province's group number is not known and no rule gives it)."""


class AgencyOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    code: str
    name: str
    kind: str
    unit_code: str | None
    unit_valid_from: date | None
    valid_from: date
    valid_to: date | None
    successor_code: str | None
    province_code: str
    confirmed: bool


class AgencyResolution(BaseModel):
    """An agency code as asked, and the agency that carries its work on the day asked."""

    asked: AgencyOut
    on: date
    current: AgencyOut
    path: list[str] = Field(description="codes followed from the asked one to the current one")


class IssuanceOut(BaseModel):
    code: str
    agency_name: str
    kind: str
    unit_code: str | None
    issued_on: date
    decision_number: str | None


class IssueOut(BaseModel):
    rule: str
    issued: list[IssuanceOut]
    already_issued: int
    closed: list[str] = []
    """Codes of commune agencies closed because their commune ended in a later change set."""


__all__ = [
    "AgencyOut",
    "AgencyResolution",
    "IssuanceOut",
    "IssueOut",
    "LineageOut",
    "LinkOut",
    "LoadOut",
    "SearchHit",
    "SearchOut",
    "StatsOut",
    "UnitOut",
]
