"""The cut-over gate: a source may be switched off only when every reason below is gone."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from hopnhat.db import utcnow
from hopnhat.store.models import Dossier
from hopnhat.sync import repository as repo
from hopnhat.sync.models import SyncRun
from hopnhat.sync.reconcile import reconcile

OPEN = (1, 2, 4, 5, 6)


def check(
    session: Session, config: dict[str, dict[str, Any]], today: date, max_lag_minutes: float = 60
) -> dict[str, dict[str, Any]]:
    report = reconcile(session, config, today)
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
            reasons.append(f"{held} quarantined records not resolved")
        orphans = int(
            session.scalar(
                select(func.count())
                .select_from(Dossier)
                .where(Dossier.source_name == name, Dossier.status.in_(OPEN), Dossier.unit_code.is_(None))
            )
            or 0
        )
        if orphans:
            reasons.append(f"{orphans} open dossiers whose unit has no successor")
        last = repo.last_done(session, name)
        run = session.get(SyncRun, last.run_id) if last else None
        if run is None or run.finished_at is None:
            reasons.append("never synced")
        elif utcnow() - run.finished_at > timedelta(minutes=max_lag_minutes):
            reasons.append(f"sync lag above {max_lag_minutes:g} minutes")
        out[name] = {"ready": not reasons, "reasons": reasons}
    return out
