"""API shapes of the sync. Quarantine payloads (personal data) are never part of them."""

from __future__ import annotations

from pydantic import BaseModel


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
