"""Every query of the sync."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from hopnhat.store.models import Dossier
from hopnhat.sync.models import QuarantinedRecord, SourceCopy, SyncCursor, SyncLock, SyncRun, SyncRunSource


def dossiers_by_code(session: Session, codes: Iterable[str]) -> Sequence[Dossier]:
    return session.scalars(select(Dossier).where(Dossier.code.in_(list(codes)))).all()


def copies(session: Session, source: str, ids: Iterable[str]) -> Sequence[SourceCopy]:
    return session.scalars(
        select(SourceCopy).where(SourceCopy.source == source, SourceCopy.source_id.in_(list(ids)))
    ).all()


def quarantined(session: Session, source: str, ids: Iterable[str]) -> Sequence[QuarantinedRecord]:
    return session.scalars(
        select(QuarantinedRecord).where(QuarantinedRecord.source == source, QuarantinedRecord.source_id.in_(list(ids)))
    ).all()


def cursor(session: Session, source: str) -> SyncCursor | None:
    return session.get(SyncCursor, source)


def set_cursor(session: Session, source: str, value: str, version: int) -> None:
    row = session.get(SyncCursor, source)
    if row is None:
        session.add(SyncCursor(source=source, value=value, version=version))
    elif (row.value or "") < value or row.version != version:
        row.value, row.version = value, version


def try_lock(session: Session, source: str, owner: str, now: datetime, expires: datetime) -> bool:
    """Atomic on every backend: an insert that the primary key refuses, or an update guarded by the expiry."""
    try:
        with session.begin_nested():
            session.execute(insert(SyncLock).values(source=source, owner=owner, expires_at=expires))
        return True
    except IntegrityError:
        pass
    result = session.execute(
        update(SyncLock)
        .where(SyncLock.source == source, (SyncLock.expires_at < now) | (SyncLock.owner == owner))
        .values(owner=owner, expires_at=expires)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def lock_owner(session: Session, source: str) -> str | None:
    return session.scalar(select(SyncLock.owner).where(SyncLock.source == source))


def steal_lock(session: Session, source: str, old_owner: str, owner: str, expires: datetime) -> bool:
    result = session.execute(
        update(SyncLock)
        .where(SyncLock.source == source, SyncLock.owner == old_owner)
        .values(owner=owner, expires_at=expires)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def unlock(session: Session, source: str, owner: str) -> None:
    session.execute(delete(SyncLock).where(SyncLock.source == source, SyncLock.owner == owner))


def runs(session: Session, limit: int) -> Sequence[SyncRun]:
    return session.scalars(select(SyncRun).order_by(SyncRun.id.desc()).limit(limit)).all()


def run_sources(session: Session, run_ids: Iterable[int]) -> Sequence[SyncRunSource]:
    return session.scalars(
        select(SyncRunSource).where(SyncRunSource.run_id.in_(list(run_ids))).order_by(SyncRunSource.id)
    ).all()


def last_done(session: Session, source: str) -> SyncRunSource | None:
    return session.scalars(
        select(SyncRunSource)
        .where(SyncRunSource.source == source, SyncRunSource.state == "done")
        .order_by(SyncRunSource.id.desc())
        .limit(1)
    ).first()


def quarantine_list(session: Session, source: str | None, state: str | None, limit: int) -> Sequence[QuarantinedRecord]:
    query = select(QuarantinedRecord).order_by(QuarantinedRecord.id)
    if source:
        query = query.where(QuarantinedRecord.source == source)
    if state:
        query = query.where(QuarantinedRecord.state == state)
    return session.scalars(query.limit(limit)).all()


def open_quarantine_count(session: Session, source: str) -> int:
    return int(
        session.scalar(
            select(func.count())
            .select_from(QuarantinedRecord)
            .where(QuarantinedRecord.source == source, QuarantinedRecord.state == "open")
        )
        or 0
    )


def store_summary(session: Session) -> dict[str, dict[str, int | str | None]]:
    out: dict[str, dict[str, int | str | None]] = {}

    def slot(source: str) -> dict[str, int | str | None]:
        return out.setdefault(
            source, {"copies": 0, "dossiers_won": 0, "quarantined_open": 0, "needs_review": 0, "cursor": None}
        )

    for source, n in session.execute(select(SourceCopy.source, func.count()).group_by(SourceCopy.source)):
        slot(source)["copies"] = n
    won = select(Dossier.source_name, func.count()).where(Dossier.source_name.is_not(None))
    for winner, n in session.execute(won.group_by(Dossier.source_name)):
        slot(str(winner))["dossiers_won"] = n
    review = won.where(Dossier.needs_review.is_(True)).group_by(Dossier.source_name)
    for flagged, n in session.execute(review):
        slot(str(flagged))["needs_review"] = n
    held = select(QuarantinedRecord.source, func.count()).where(QuarantinedRecord.state == "open")
    for source, n in session.execute(held.group_by(QuarantinedRecord.source)):
        slot(source)["quarantined_open"] = n
    for cur in session.scalars(select(SyncCursor)):
        slot(cur.source)["cursor"] = cur.value
    return out
