"""API shapes of the sync. Quarantine payloads (personal data) are never part of them."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field


class SourceCounts(BaseModel):
    state: str
    error: str | None
    extracted: int
    inserted: int
    updated: int
    unchanged: int
    quarantined: int
    duplicates: int


class RunOut(BaseModel):
    id: int
    state: str
    dry_run: bool
    started_at: str
    finished_at: str | None
    sources: dict[str, SourceCounts]


class QuarantineOut(BaseModel):
    id: int
    source: str
    source_id: str
    state: str
    reasons: list[str]
    run_id: int | None


class SourceSummary(BaseModel):
    """What the store holds of a source (a full reconciliation reads the source: ``hopnhat reconcile``)."""

    copies: int
    dossiers_won: int
    quarantined_open: int
    needs_review: int
    cursor: str | None


class SourceLeftOut(BaseModel):
    """What stands between a source and its cut-over (:class:`hopnhat.sync.stewardship.SourceLeft`)."""

    source: str
    quarantined: int
    dismissals_proposed: int
    without_unit: int
    to_review: int
    corrections_superseded: int
    ready: bool | None
    reasons: list[str]
    checked_at: datetime | None
    cut_over_at: datetime | None


class DismissalIn(BaseModel):
    reason: str = Field(max_length=32, description="test_record, duplicate or withdrawn")
    duplicate_of: str | None = Field(None, max_length=64, description="The dossier code it duplicates")
    note: str | None = Field(None, max_length=500)


class DismissalOut(BaseModel):
    id: int
    quarantine_id: int
    reason: str
    duplicate_of: str | None
    state: str
    proposed_by: str
    decided_by: str | None
