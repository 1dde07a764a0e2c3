"""The cut-over gate: a source may be switched off only when every reason below is gone.

:func:`check` computes the verdicts (it reads the sources, so it needs their configuration) and records each one;
:func:`verdict` and :func:`latest_verdicts` give the recorded ones to parts that have no source configuration (the
transition plan, the pages), with the time they were computed so a stale verdict shows as stale.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any, TypedDict

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from hopnhat.db import utcnow
from hopnhat.store.models import Dossier
from hopnhat.sync import repository as repo
from hopnhat.sync.models import CutoverVerdict, SyncRun
from hopnhat.sync.reconcile import reconcile

OPEN = (1, 2, 4, 5, 6)


class Verdict(TypedDict):
    """A recorded verdict: ``ready`` only when ``reasons`` is empty; ``checked_at`` is when it was computed (UTC)."""

    source: str
    ready: bool
    reasons: list[str]
    checked_at: datetime


def check(
    session: Session, config: dict[str, dict[str, Any]], today: date, max_lag_minutes: float = 60, jobs: int = 1
) -> dict[str, dict[str, Any]]:
    """The verdict per source of ``config``: ``{"ready": bool, "reasons": [...]}``. Each verdict is also added to
    the session as a :class:`CutoverVerdict` row (the caller commits, as with every service)."""
    report = reconcile(session, config, today, jobs=jobs)
    checked_at = utcnow()
    out: dict[str, dict[str, Any]] = {}
    for name in config:
        reasons: list[str] = []
        r = report[name]
        if r.get("error"):
            reasons.append(str(r["error"]))
        elif r["missing"] or r["changed"]:
            reasons.append(f"changes not yet synced: {r['missing']} missing, {r['changed']} changed")
        held = repo.open_quarantine_count(session, name)
        if held:
            reasons.append(f"{held} quarantined record{'s' if held != 1 else ''} not resolved")
        orphans = int(
            session.scalar(
                select(func.count())
                .select_from(Dossier)
                .where(Dossier.source_name == name, Dossier.status.in_(OPEN), Dossier.unit_code.is_(None))
            )
            or 0
        )
        if orphans:
            reasons.append(f"{orphans} open dossier{'s' if orphans != 1 else ''} whose unit has no successor")
        last = repo.last_done(session, name)
        run = session.get(SyncRun, last.run_id) if last else None
        if run is None or run.finished_at is None:
            reasons.append("never synced")
        elif utcnow() - run.finished_at > timedelta(minutes=max_lag_minutes):
            reasons.append(f"sync lag above {max_lag_minutes:g} minutes")
        out[name] = {"ready": not reasons, "reasons": reasons}
        session.add(CutoverVerdict(source=name, ready=not reasons, reasons=reasons, checked_at=checked_at))
    session.flush()
    return out


def _as_verdict(row: CutoverVerdict) -> Verdict:
    return {"source": row.source, "ready": row.ready, "reasons": list(row.reasons), "checked_at": row.checked_at}


def verdict(session: Session, source: str) -> Verdict | None:
    """The latest recorded verdict for ``source``, or None when ``cutover check`` never ran for it. Latest means
    last recorded (highest id), not the highest ``checked_at``: clocks of several machines may disagree."""
    row = session.scalars(
        select(CutoverVerdict).where(CutoverVerdict.source == source).order_by(CutoverVerdict.id.desc()).limit(1)
    ).first()
    return _as_verdict(row) if row is not None else None


def latest_verdicts(session: Session) -> list[Verdict]:
    """The latest recorded verdict of every source ever checked, by source name."""
    latest = (
        select(CutoverVerdict.source, func.max(CutoverVerdict.id).label("id"))
        .group_by(CutoverVerdict.source)
        .subquery()
    )
    rows = session.scalars(
        select(CutoverVerdict).join(latest, CutoverVerdict.id == latest.c.id).order_by(CutoverVerdict.source)
    )
    return [_as_verdict(r) for r in rows]
