"""Tables of the sync: runs and their per-source accounting, versioned cursors, locks, quarantine, source copies."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from hopnhat.db import Base, UTCDateTime, utcnow


class SyncRun(Base):
    """One ``sync run`` invocation; ``state`` is one of running, done, failed. A run that fails for any reason ends
    ``failed`` with its ``reason``; one whose process died is closed so by the next start (see ``owner``)."""

    __tablename__ = "sync_run"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    state: Mapped[str] = mapped_column(String(16), default="running")
    dry_run: Mapped[bool] = mapped_column(default=False)
    owner: Mapped[str | None] = mapped_column(String(200))
    """``host:pid`` of the process running it: a later start on that host closes the run when the pid is gone."""
    reason: Mapped[str | None] = mapped_column(String(1000))
    """Why the run failed (its first failing source, a failed precondition, the process that died)."""


class SyncRunSource(Base):
    """Accounting of one source in one run: extracted = inserted + updated + unchanged + quarantined + duplicates."""

    __tablename__ = "sync_run_source"
    __table_args__ = (UniqueConstraint("run_id", "source"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("sync_run.id", ondelete="CASCADE"), index=True)
    source: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(16), default="running")
    """running, done, failed, skipped (locked by another process)."""
    extracted: Mapped[int] = mapped_column(Integer, default=0)
    inserted: Mapped[int] = mapped_column(Integer, default=0)
    updated: Mapped[int] = mapped_column(Integer, default=0)
    unchanged: Mapped[int] = mapped_column(Integer, default=0)
    quarantined: Mapped[int] = mapped_column(Integer, default=0)
    duplicates: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(String(1000))


class SyncCursor(Base):
    """Incremental position of a source: the latest source update time loaded (local time, ISO), versioned so a
    change of cursor semantics can be detected; written in the same transaction as the batch it covers."""

    __tablename__ = "sync_cursor"

    source: Mapped[str] = mapped_column(String(64), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, default=1)
    value: Mapped[str | None] = mapped_column(String(64))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class SyncLock(Base):
    """Who syncs a source now; taken by an atomic insert or by updating an expired row."""

    __tablename__ = "sync_lock"

    source: Mapped[str] = mapped_column(String(64), primary_key=True)
    owner: Mapped[str] = mapped_column(String(200))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)


class QuarantinedRecord(Base):
    """A rejected source record, kept whole with its reasons until a later sync or replay loads it."""

    __tablename__ = "sync_quarantine"
    __table_args__ = (UniqueConstraint("source", "source_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source: Mapped[str] = mapped_column(String(64), index=True)
    source_id: Mapped[str] = mapped_column(String(200))
    run_id: Mapped[int | None] = mapped_column(Integer)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    """Raw record as extracted (may hold personal data: shown to operators only, never logged)."""
    reasons: Mapped[list[str]] = mapped_column(JSON)
    state: Mapped[str] = mapped_column(String(16), default="open")
    """open, or resolved once a clean copy of the record was loaded."""
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class SourceCopy(Base):
    """Provenance: every source record that fed a dossier (transferred dossiers have copies in two sources)."""

    __tablename__ = "sync_source_copy"
    __table_args__ = (UniqueConstraint("source", "source_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source: Mapped[str] = mapped_column(String(64))
    source_id: Mapped[str] = mapped_column(String(200))
    dossier_code: Mapped[str] = mapped_column(String(64), index=True)
    row_hash: Mapped[str] = mapped_column(String(64))
    raw_hash: Mapped[str | None] = mapped_column(String(32))
    """:func:`hopnhat.sync.engine.raw_check` of the source record as extracted, sealed with ``row_hash``, ``status``,
    ``unit_code`` and ``received_month`` of this row: reconciliation trusts these columns for a source record whose
    check still matches and normalises only the others. ``None`` (copies loaded before it existed) never matches."""
    source_updated: Mapped[str | None] = mapped_column(String(32))
    status: Mapped[int | None] = mapped_column(Integer)
    unit_code: Mapped[str | None] = mapped_column(String(8))
    received_month: Mapped[str | None] = mapped_column(String(7))
    note: Mapped[str | None] = mapped_column(Text)


class SourceIdentity(Base):
    """Which system a source name stands for: the connector kind, where it reads (host, database and table; folder
    and pattern; base URL and endpoint; never a secret) and a sample of its record ids. A config that gives the name
    to another system is refused instead of loading a handful of records past the old cursor in silence."""

    __tablename__ = "sync_source_identity"

    source: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    location: Mapped[str] = mapped_column(String(1000))
    sample_ids: Mapped[list[str]] = mapped_column(JSON)
    bound_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    checked_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class CutoverVerdict(Base):
    """One cut-over verdict as ``cutover check`` computed it; kept so other parts (the transition plan, the pages)
    can show the latest verdict without reading the legacy source again, and see how old it is."""

    __tablename__ = "sync_cutover_verdict"
    __table_args__ = (Index("ix_sync_cutover_verdict_source_id", "source", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source: Mapped[str] = mapped_column(String(64))
    ready: Mapped[bool]
    reasons: Mapped[list[str]] = mapped_column(JSON)
    checked_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Correction(Base):
    """A data steward's correction of a quarantined record (sửa bản ghi): canonical fields that replace the mapped
    ones, kept beside the raw record it was made for. The sync applies it while the source sends that record
    unchanged; a changed record wins, the correction turns ``superseded`` and the dossier is flagged for review."""

    __tablename__ = "sync_correction"
    __table_args__ = (UniqueConstraint("source", "source_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source: Mapped[str] = mapped_column(String(64), index=True)
    source_id: Mapped[str] = mapped_column(String(200))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    """The raw record as quarantined when corrected (personal data: shown through audited views only)."""
    fields: Mapped[dict[str, Any]] = mapped_column(JSON)
    """Canonical field -> the value that replaces the mapped one (source values, as the mapping would give them)."""
    state: Mapped[str] = mapped_column(String(16), default="active")
    """active, or superseded once the source sent a changed record."""
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    superseded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Dismissal(Base):
    """A proposal to dismiss a quarantined record (loại bỏ) for a reason of a fixed list; it takes effect when a
    second data steward approves it (the proposer cannot)."""

    __tablename__ = "sync_dismissal"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    quarantine_id: Mapped[int] = mapped_column(ForeignKey("sync_quarantine.id", ondelete="CASCADE"), index=True)
    reason: Mapped[str] = mapped_column(String(32))
    """test_record, duplicate (of ``duplicate_of``), withdrawn (before the merger)."""
    duplicate_of: Mapped[str | None] = mapped_column(String(64))
    note: Mapped[str | None] = mapped_column(String(500))
    state: Mapped[str] = mapped_column(String(16), default="proposed")
    """proposed, approved, rejected."""
    proposed_by: Mapped[str] = mapped_column(String(64))
    proposed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    decided_by: Mapped[str | None] = mapped_column(String(64))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class UnitChoice(Base):
    """The unit a data steward picked for a migrated dossier (a split commune, a unit name matched loosely). The
    sync keeps it while the source gives the dossier the same original unit; a changed unit wins and is flagged."""

    __tablename__ = "sync_unit_choice"

    dossier_code: Mapped[str] = mapped_column(String(64), primary_key=True)
    original_unit_code: Mapped[str | None] = mapped_column(String(8))
    unit_code: Mapped[str] = mapped_column(String(8))
    state: Mapped[str] = mapped_column(String(16), default="active")
    """active, or superseded once the source changed the dossier's unit."""
    chosen_by: Mapped[str] = mapped_column(String(64))
    chosen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Cutover(Base):
    """The cut-over of a source (chuyển đổi): from ``committed_at`` the sync no longer reads it, hopnhat owns its
    dossiers and the relay queues them for the portal."""

    __tablename__ = "sync_cutover"

    source: Mapped[str] = mapped_column(String(64), primary_key=True)
    committed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    committed_by: Mapped[str] = mapped_column(String(64))
    forced: Mapped[bool] = mapped_column(default=False)
    reason: Mapped[str | None] = mapped_column(String(500))
    """Why an administrator forced it past a NOT READY verdict (required then)."""


__all__ = [
    "Correction",
    "Cutover",
    "CutoverVerdict",
    "Dismissal",
    "QuarantinedRecord",
    "SourceCopy",
    "SourceIdentity",
    "SyncCursor",
    "SyncLock",
    "SyncRun",
    "SyncRunSource",
    "UnitChoice",
]
